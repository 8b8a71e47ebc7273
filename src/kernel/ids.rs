//! The ids that travel between modules, as types of their own (Lemmy's `newtypes.rs`): an
//! account's id cannot be passed where a database's or a hold's is expected. Each wraps the
//! table's BIGINT key.

crate::sql_id! {
    /// A customer database (tenant).
    pub struct DatabaseId;
}
crate::sql_id! {
    /// A user who signs in to a database.
    pub struct UserId;
}
crate::sql_id! {
    /// A service of the catalog.
    pub struct ServiceId;
}
crate::sql_id! {
    /// A pack of credits of a service.
    pub struct PackId;
}
crate::sql_id! {
    /// A database's IAP account for one service.
    pub struct AccountId;
}
crate::sql_id! {
    /// A hold of credits on an account.
    pub struct HoldId;
}
crate::sql_id! {
    /// An order of a pack.
    pub struct OrderId;
}
crate::sql_id! {
    /// A contact of a database.
    pub struct ContactId;
}
crate::sql_id! {
    /// A paid-service job.
    pub struct JobId;
}
crate::sql_id! {
    /// A lead of a database's CRM.
    pub struct LeadId;
}
crate::sql_id! {
    /// A "Generate Leads" request.
    pub struct LeadRequestId;
}
crate::sql_id! {
    /// A database's saved card (the provider's token for it).
    pub struct PaymentMethodId;
}
crate::sql_id! {
    /// An uploaded document (a bill's file, a letter's PDF, a document to sign).
    pub struct DocumentId;
}
crate::sql_id! {
    /// A vendor bill of the Vendor Bills app.
    pub struct BillId;
}
crate::sql_id! {
    /// One paid reading of a vendor bill.
    pub struct DigitizationId;
}
crate::sql_id! {
    /// A letter sent by post.
    pub struct LetterId;
}
crate::sql_id! {
    /// A request for signatures.
    pub struct SignRequestId;
}
crate::sql_id! {
    /// A signer of a request for signatures.
    pub struct SignerId;
}
crate::sql_id! {
    /// One paid itsme identification of a signer.
    pub struct IdentificationId;
}
crate::sql_id! {
    /// A company of the directory (the `partner_gid` Odoo keeps).
    pub struct CompanyId;
}
crate::sql_id! {
    /// One SMS to one recipient.
    pub struct SmsMessageId;
}

/// A dbuuid: Odoo's `database.uuid`, a UUID in its canonical form (lowercase here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dbuuid(String);

impl Dbuuid {
    pub fn parse(text: &str) -> Option<Dbuuid> {
        let text = text.trim().to_ascii_lowercase();
        let groups: Vec<&str> = text.split('-').collect();
        let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        let hex_ok = groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        (lengths_ok && hex_ok).then_some(Dbuuid(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
