-- Notifications at the volume issue 16 writes them (one per fill): the bell's unread count
-- and the newest-first list read an index, not every row of the user.
--
-- * Unread is `is_read IS NOT TRUE` (the seed's column is nullable, and NULL has always
--   meant unread): 0002's partial index `WHERE NOT is_read` could not serve that test, so
--   it is replaced by one that can.
-- * (user_id, created_at DESC, id DESC): the list's keyset order. It leads with user_id, so
--   it serves the cascade from profiles as well, and 0006's plain user_id index goes.
-- Measured on a user with 100,000 notifications (2 % unread) among 200,000 rows
-- (benchmarks/notification_reads.py, docs/benchmarks.md).

DROP INDEX account_notifications_unread_idx;
CREATE INDEX account_notifications_unread_idx ON account_notifications (user_id, created_at DESC)
  WHERE is_read IS NOT TRUE;
CREATE INDEX account_notifications_user_created_idx
  ON account_notifications (user_id, created_at DESC, id DESC);
DROP INDEX account_notifications_user_id_idx;
