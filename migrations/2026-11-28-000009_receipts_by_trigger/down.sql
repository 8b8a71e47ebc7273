DROP TRIGGER orders_queue_receipt ON orders;
DROP FUNCTION orders_queue_receipt();
