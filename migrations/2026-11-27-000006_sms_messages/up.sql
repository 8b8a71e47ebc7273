-- Every SMS handed to the carrier, or refused before it: the chatter of contacts and the SMS
-- history read from here.

CREATE TABLE sms_messages (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    sent_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    encoding TEXT NOT NULL CHECK (encoding IN ('GSM-7', 'UCS-2')),
    parts INTEGER NOT NULL CHECK (parts BETWEEN 0 AND 10),
    cost BIGINT NOT NULL CHECK (cost >= 0),
    status TEXT NOT NULL CHECK (status IN ('sent', 'delivered', 'error')),
    error TEXT,
    carrier_reference TEXT,
    hold_id BIGINT REFERENCES holds (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status = 'error') = (error IS NOT NULL))
);
CREATE INDEX sms_messages_by_contact ON sms_messages (contact_id, id DESC);
CREATE INDEX sms_messages_by_database ON sms_messages (database_id, id DESC);
CREATE INDEX sms_messages_awaiting_report ON sms_messages (id) WHERE status = 'sent';
