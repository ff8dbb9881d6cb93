-- 0039's evaluate_alert_ticks_v2 and fire_price_alerts_v2 (through fire_alerts_v1, the one
-- way every alert fires) replaced 0037's pair; nothing calls these any more.
DROP FUNCTION private.evaluate_alert_ticks_v1(integer, interval);
DROP FUNCTION private.fire_price_alerts(private.alert_ticks, interval);
