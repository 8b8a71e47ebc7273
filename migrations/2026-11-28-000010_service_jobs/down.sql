DROP INDEX sms_messages_by_job;
ALTER TABLE sms_messages DROP COLUMN job_id;
DELETE FROM sms_messages WHERE status = 'queued';
ALTER TABLE sms_messages
    DROP CONSTRAINT sms_messages_status_check,
    ADD CONSTRAINT sms_messages_status_check CHECK (status IN ('sent', 'delivered', 'error'));
DROP TABLE service_jobs;
