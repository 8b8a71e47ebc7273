-- Receipts are queued by the database when an order becomes paid, in the transaction that marks
-- it paid (as low-credit alerts are): the orders module knows nothing of email, and no path
-- that pays an order can forget its receipt. The unique index keeps it to one per order.
CREATE FUNCTION orders_queue_receipt() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO email_outbox (kind, database_id, order_id)
    VALUES ('receipt', NEW.database_id, NEW.id)
    ON CONFLICT (order_id) WHERE kind = 'receipt' DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER orders_queue_receipt
    AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status = 'paid')
    EXECUTE FUNCTION orders_queue_receipt();
