// @generated automatically by Diesel CLI.

diesel::table! {
    app_events (name) {
        name -> Text,
        happened_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        operator_id -> Nullable<Int8>,
        operator_email -> Text,
        action -> Text,
        subject -> Text,
        database_id -> Nullable<Int8>,
        reason -> Nullable<Text>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (id) {
        id -> Int8,
        database_id -> Int8,
        name -> Text,
        company -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        mobile -> Nullable<Text>,
        country -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        street -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        city -> Nullable<Text>,
        vat -> Nullable<Text>,
        website -> Nullable<Text>,
        industry -> Nullable<Text>,
        employees -> Nullable<Int4>,
        logo_svg -> Nullable<Text>,
        directory_company_id -> Nullable<Int8>,
        is_company -> Bool,
    }
}

diesel::table! {
    databases (id) {
        id -> Int8,
        name -> Text,
        subscription -> Text,
        created_at -> Timestamptz,
        dbuuid -> Nullable<Text>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Int8,
        kind -> Text,
        database_id -> Int8,
        account_id -> Nullable<Int8>,
        order_id -> Nullable<Int8>,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        recipients -> Nullable<Text>,
        subject -> Nullable<Text>,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    holds (id) {
        id -> Int8,
        account_id -> Int8,
        amount -> Int8,
        captured -> Int8,
        status -> Text,
        description -> Text,
        actor -> Text,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    iap_accounts (id) {
        id -> Int8,
        database_id -> Int8,
        service_id -> Int8,
        token -> Text,
        balance -> Int8,
        reserved -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        warn_me -> Bool,
        threshold -> Int8,
        warning_email -> Text,
        low_credit_alerted -> Bool,
        token_sha1 -> Nullable<Text>,
        auto_topup_below -> Nullable<Int8>,
        label -> Text,
        is_default -> Bool,
        below_threshold_since -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request -> Text,
        response_status -> Int2,
        response_body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Int8,
        account_id -> Int8,
        kind -> Text,
        amount -> Int8,
        reserved_change -> Int8,
        balance_after -> Int8,
        reserved_after -> Int8,
        hold_id -> Nullable<Int8>,
        order_id -> Nullable<Int8>,
        actor -> Text,
        description -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orders (id) {
        id -> Int8,
        database_id -> Int8,
        account_id -> Int8,
        pack_id -> Int8,
        pack_name -> Text,
        credits -> Int8,
        price_minor -> Int8,
        currency -> Text,
        status -> Text,
        created_by -> Nullable<Int8>,
        payment_reference -> Nullable<Text>,
        card_last4 -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        paid_at -> Nullable<Timestamptz>,
        auto_topup -> Bool,
        payment_method_id -> Nullable<Int8>,
        next_attempt_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    invoice_settings (id) {
        id -> Int2,
        seller_name -> Text,
        seller_address -> Text,
        seller_vat -> Text,
        vat_rate_bp -> Nullable<Int4>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    billing_details (database_id) {
        database_id -> Int8,
        company_name -> Text,
        address -> Text,
        vat_number -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    invoice_counters (year) {
        year -> Int2,
        last -> Int4,
    }
}

diesel::table! {
    invoices (id) {
        id -> Int8,
        order_id -> Int8,
        database_id -> Int8,
        year -> Int2,
        number -> Int4,
        issued_at -> Timestamptz,
        seller_name -> Text,
        seller_address -> Text,
        seller_vat -> Text,
        buyer_name -> Text,
        buyer_address -> Text,
        buyer_vat -> Text,
        buyer_email -> Text,
        service_name -> Text,
        pack_name -> Text,
        credits -> Int8,
        total_minor -> Int8,
        currency -> Text,
        vat_rate_bp -> Nullable<Int4>,
        vat_minor -> Int8,
    }
}

diesel::table! {
    ledger_daily (account_id, day) {
        account_id -> Int8,
        day -> Date,
        spent -> Int8,
        spent_count -> Int8,
        bought -> Int8,
        first_spent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sales_daily (account_id, day, currency) {
        account_id -> Int8,
        day -> Date,
        currency -> Text,
        orders -> Int8,
        credits_sold -> Int8,
        revenue_minor -> Int8,
        refunds -> Int8,
        credits_refunded -> Int8,
        refunded_minor -> Int8,
    }
}

diesel::table! {
    payment_methods (id) {
        id -> Int8,
        database_id -> Int8,
        provider_token -> Text,
        brand -> Text,
        last4 -> Text,
        expiry_month -> Int2,
        expiry_year -> Int2,
        holder -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    auto_topups (account_id) {
        account_id -> Int8,
        database_id -> Int8,
        enabled -> Bool,
        below -> Int8,
        pack_id -> Int8,
        cap_count -> Nullable<Int4>,
        cap_amount_minor -> Nullable<Int8>,
        payment_method_id -> Nullable<Int8>,
        declines_in_row -> Int4,
        stopped_reason -> Nullable<Text>,
        stopped_at -> Nullable<Timestamptz>,
        updated_by -> Nullable<Int8>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    packs (id) {
        id -> Int8,
        service_id -> Int8,
        name -> Text,
        credits -> Int8,
        price_minor -> Int8,
        currency -> Text,
        active -> Bool,
        sort_order -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    payment_attempts (id) {
        id -> Int8,
        order_id -> Int8,
        message -> Nullable<Text>,
        card_last4 -> Text,
        created_at -> Timestamptz,
        status -> Text,
        idempotency_key -> Text,
        amount_minor -> Int8,
        currency -> Text,
        reference -> Nullable<Text>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Int8,
        order_id -> Int8,
        ledger_entry_id -> Int8,
        credits -> Int8,
        amount_minor -> Int8,
        currency -> Text,
        provider_reference -> Nullable<Text>,
        refunded_by -> Nullable<Int8>,
        reason -> Text,
        created_at -> Timestamptz,
        status -> Text,
        failure -> Nullable<Text>,
        reversal_entry_id -> Nullable<Int8>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    service_jobs (id) {
        id -> Int8,
        service_id -> Int8,
        database_id -> Int8,
        account_id -> Int8,
        hold_id -> Int8,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        claimed_until -> Nullable<Timestamptz>,
        used -> Nullable<Int8>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    services (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        provider -> Text,
        description -> Text,
        trial_credits -> Int8,
        active -> Bool,
        sort_order -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sign_in_throttle (key) {
        key -> Text,
        failures -> Int4,
        window_start -> Timestamptz,
        lockouts -> Int4,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    simulated_provider_records (space, key) {
        space -> Text,
        key -> Text,
        value -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sms_messages (id) {
        id -> Int8,
        database_id -> Int8,
        contact_id -> Nullable<Int8>,
        sent_by -> Nullable<Int8>,
        recipient -> Text,
        body -> Text,
        encoding -> Text,
        parts -> Int4,
        cost -> Int8,
        status -> Text,
        error -> Nullable<Text>,
        carrier_reference -> Nullable<Text>,
        hold_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        job_id -> Nullable<Int8>,
        odoo_uuid -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        webhook_attempts -> Int4,
        webhook_next_at -> Nullable<Timestamptz>,
        webhook_reported_at -> Nullable<Timestamptz>,
        webhook_error -> Nullable<Text>,
    }
}

diesel::table! {
    sms_prices (country_code) {
        country_code -> Text,
        country_name -> Text,
        price -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_sessions (id) {
        id -> Text,
        user_id -> Int8,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        database_id -> Int8,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    provider_keys (id) {
        id -> Int8,
        service_id -> Int8,
        name -> Text,
        key_sha256 -> Text,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    iap_transactions (token) {
        token -> Text,
        hold_id -> Int8,
        account_id -> Int8,
        provider_key_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    directory_companies (id) {
        id -> Int8,
        name -> Text,
        legal_form -> Text,
        country_code -> Text,
        street -> Text,
        postal_code -> Text,
        city -> Text,
        vat -> Nullable<Text>,
        domain -> Text,
        phone -> Text,
        industry -> Text,
        employees -> Int4,
        founded -> Int4,
    }
}

diesel::table! {
    directory_people (id) {
        id -> Int8,
        company_id -> Int8,
        name -> Text,
        job_title -> Text,
        seniority -> Text,
        department -> Text,
        email -> Text,
    }
}

diesel::table! {
    company_lookups (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        account_id -> Int8,
        kind -> Text,
        asked -> Text,
        company_id -> Int8,
        person_ids -> Array<Int8>,
        price -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    contact_events (id) {
        id -> Int8,
        database_id -> Int8,
        contact_id -> Int8,
        body -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    enrichments (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        contact_id -> Nullable<Int8>,
        company_id -> Int8,
        requested_by -> Nullable<Int8>,
        status -> Text,
        created_at -> Timestamptz,
        price -> Int8,
        source -> Text,
    }
}

diesel::table! {
    documents (id) {
        id -> Int8,
        database_id -> Int8,
        uploaded_by -> Nullable<Int8>,
        file_name -> Text,
        media_type -> Text,
        size_bytes -> Int4,
        sha256 -> Text,
        pages -> Nullable<Int4>,
        content -> Bytea,
        created_at -> Timestamptz,
        pdf_facts -> Nullable<Jsonb>,
        text_layer -> Nullable<Text>,
    }
}

diesel::table! {
    vendor_bills (id) {
        id -> Int8,
        database_id -> Int8,
        document_id -> Int8,
        status -> Text,
        vendor -> Nullable<Text>,
        invoice_number -> Nullable<Text>,
        invoice_date -> Nullable<Date>,
        due_date -> Nullable<Date>,
        currency -> Nullable<Text>,
        total_minor -> Nullable<Int8>,
        tax_minor -> Nullable<Int8>,
        vat -> Nullable<Text>,
        confidence -> Jsonb,
        extracted_text -> Nullable<Text>,
        reviewed -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    digitizations (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        bill_id -> Int8,
        requested_by -> Nullable<Int8>,
        price -> Int8,
        status -> Text,
        created_at -> Timestamptz,
        read_attempts -> Int4,
        reading_until -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    postage_zones (zone) {
        zone -> Text,
        name -> Text,
        base_price -> Int8,
        per_sheet -> Int8,
        colour_per_page -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    postage_countries (country) {
        country -> Text,
        zone -> Text,
    }
}

diesel::table! {
    letters (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        document_id -> Int8,
        contact_id -> Nullable<Int8>,
        sent_by -> Nullable<Int8>,
        form_key -> Text,
        recipient -> Text,
        street -> Text,
        postal_code -> Text,
        city -> Text,
        country -> Text,
        pages -> Int4,
        sheets -> Int4,
        colour -> Bool,
        duplex -> Bool,
        cover -> Bool,
        zone -> Text,
        price -> Int8,
        status -> Text,
        provider_reference -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        source -> Text,
    }
}

diesel::table! {
    sign_requests (id) {
        id -> Int8,
        database_id -> Int8,
        document_id -> Int8,
        created_by -> Nullable<Int8>,
        form_key -> Text,
        title -> Text,
        document_sha256 -> Text,
        status -> Text,
        signed_pdf -> Nullable<Bytea>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    signers (id) {
        id -> Int8,
        request_id -> Int8,
        database_id -> Int8,
        name -> Text,
        email -> Text,
        country -> Text,
        itsme -> Bool,
        token_hash -> Text,
        expires_at -> Timestamptz,
        identified_name -> Nullable<Text>,
        identified_birth_date -> Nullable<Date>,
        identified_national_number -> Nullable<Text>,
        identified_at -> Nullable<Timestamptz>,
        signed_at -> Nullable<Timestamptz>,
        signed_from -> Nullable<Text>,
        signed_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    identifications (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        signer_id -> Int8,
        price -> Int8,
        provider_session -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    usage_prices (service_id, unit) {
        service_id -> Int8,
        unit -> Text,
        label -> Text,
        credits -> Int8,
    }
}

diesel::table! {
    lead_requests (id) {
        id -> Int8,
        job_id -> Int8,
        database_id -> Int8,
        requested_by -> Nullable<Int8>,
        form_key -> Text,
        lead_count -> Int4,
        countries -> Array<Text>,
        industries -> Array<Text>,
        min_employees -> Int4,
        max_employees -> Int4,
        contacts_per_company -> Int4,
        seniorities -> Array<Text>,
        departments -> Array<Text>,
        price_per_company -> Int8,
        price_per_contact -> Int8,
        status -> Text,
        companies_found -> Int4,
        contacts_found -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    leads (id) {
        id -> Int8,
        database_id -> Int8,
        request_id -> Nullable<Int8>,
        directory_company_id -> Nullable<Int8>,
        name -> Text,
        country_code -> Nullable<Text>,
        street -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        city -> Nullable<Text>,
        vat -> Nullable<Text>,
        website -> Nullable<Text>,
        phone -> Nullable<Text>,
        industry -> Nullable<Text>,
        employees -> Nullable<Int4>,
        logo_svg -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    lead_contacts (id) {
        id -> Int8,
        database_id -> Int8,
        lead_id -> Int8,
        directory_person_id -> Nullable<Int8>,
        name -> Text,
        job_title -> Nullable<Text>,
        seniority -> Nullable<Text>,
        department -> Nullable<Text>,
        email -> Nullable<Text>,
    }
}

diesel::table! {
    lead_events (id) {
        id -> Int8,
        database_id -> Int8,
        lead_id -> Int8,
        body -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(audit_log -> databases (database_id));
diesel::joinable!(audit_log -> users (operator_id));
diesel::joinable!(contact_events -> contacts (contact_id));
diesel::joinable!(contacts -> databases (database_id));
diesel::joinable!(directory_people -> directory_companies (company_id));
diesel::joinable!(email_outbox -> databases (database_id));
diesel::joinable!(email_outbox -> iap_accounts (account_id));
diesel::joinable!(email_outbox -> orders (order_id));
diesel::joinable!(holds -> iap_accounts (account_id));
diesel::joinable!(iap_transactions -> holds (hold_id));
diesel::joinable!(iap_transactions -> iap_accounts (account_id));
diesel::joinable!(iap_transactions -> provider_keys (provider_key_id));
diesel::joinable!(iap_accounts -> databases (database_id));
diesel::joinable!(iap_accounts -> services (service_id));
diesel::joinable!(digitizations -> vendor_bills (bill_id));
diesel::joinable!(vendor_bills -> documents (document_id));
diesel::joinable!(identifications -> signers (signer_id));
diesel::joinable!(signers -> sign_requests (request_id));
diesel::joinable!(sign_requests -> documents (document_id));
diesel::joinable!(lead_contacts -> leads (lead_id));
diesel::joinable!(letters -> documents (document_id));
diesel::joinable!(postage_countries -> postage_zones (zone));
diesel::joinable!(lead_events -> leads (lead_id));
diesel::joinable!(lead_requests -> service_jobs (job_id));
diesel::joinable!(leads -> lead_requests (request_id));
diesel::joinable!(usage_prices -> services (service_id));
diesel::joinable!(ledger_entries -> holds (hold_id));
diesel::joinable!(ledger_entries -> iap_accounts (account_id));
diesel::joinable!(ledger_entries -> orders (order_id));
diesel::joinable!(orders -> databases (database_id));
diesel::joinable!(orders -> iap_accounts (account_id));
diesel::joinable!(orders -> packs (pack_id));
diesel::joinable!(orders -> payment_methods (payment_method_id));
diesel::joinable!(payment_methods -> databases (database_id));
diesel::joinable!(invoices -> orders (order_id));
diesel::joinable!(invoices -> databases (database_id));
diesel::joinable!(billing_details -> databases (database_id));
diesel::joinable!(ledger_daily -> iap_accounts (account_id));
diesel::joinable!(sales_daily -> iap_accounts (account_id));
diesel::joinable!(auto_topups -> iap_accounts (account_id));
diesel::joinable!(auto_topups -> packs (pack_id));
diesel::joinable!(auto_topups -> payment_methods (payment_method_id));
diesel::joinable!(orders -> users (created_by));
diesel::joinable!(packs -> services (service_id));
diesel::joinable!(payment_attempts -> orders (order_id));
diesel::joinable!(provider_keys -> services (service_id));
diesel::joinable!(refunds -> ledger_entries (ledger_entry_id));
diesel::joinable!(refunds -> orders (order_id));
diesel::joinable!(refunds -> users (refunded_by));
diesel::joinable!(service_jobs -> databases (database_id));
diesel::joinable!(service_jobs -> holds (hold_id));
diesel::joinable!(service_jobs -> iap_accounts (account_id));
diesel::joinable!(service_jobs -> services (service_id));
diesel::joinable!(sms_messages -> contacts (contact_id));
diesel::joinable!(sms_messages -> databases (database_id));
diesel::joinable!(sms_messages -> holds (hold_id));
diesel::joinable!(sms_messages -> service_jobs (job_id));
diesel::joinable!(sms_messages -> users (sent_by));
diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(users -> databases (database_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_events,
    auto_topups,
    billing_details,
    invoice_counters,
    invoice_settings,
    invoices,
    ledger_daily,
    payment_methods,
    sales_daily,
    audit_log,
    company_lookups,
    contact_events,
    contacts,
    databases,
    directory_companies,
    digitizations,
    directory_people,
    documents,
    email_outbox,
    enrichments,
    holds,
    iap_accounts,
    iap_transactions,
    identifications,
    idempotency_keys,
    lead_contacts,
    lead_events,
    lead_requests,
    leads,
    ledger_entries,
    letters,
    orders,
    packs,
    payment_attempts,
    postage_countries,
    postage_zones,
    provider_keys,
    refunds,
    service_jobs,
    services,
    sign_in_throttle,
    sign_requests,
    signers,
    simulated_provider_records,
    sms_messages,
    sms_prices,
    usage_prices,
    user_sessions,
    users,
    vendor_bills,
);
