DROP TABLE sms_prices;
