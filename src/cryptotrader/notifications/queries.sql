-- list_notifications --
-- The caller's unexpired notifications, newest first; keyset-paginated on (created_at, id).
SELECT id, account_id, notification_type, title, message,
       coalesce(severity, 'info') AS severity, coalesce(is_read, false) AS is_read,
       coalesce(metadata, '{}') AS metadata,
       expires_at, created_at
  FROM account_notifications
 WHERE user_id = (SELECT auth.uid())
   AND (expires_at IS NULL OR expires_at > now())
   AND (NOT %(unread)s::boolean OR is_read IS NOT TRUE)
   AND (%(account_id)s::uuid IS NULL OR account_id = %(account_id)s::uuid)
   AND (%(type)s::text IS NULL OR notification_type = %(type)s::text)
   AND (%(after_id)s::uuid IS NULL
        OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s::bigint;

-- unread_count --
SELECT count(*) AS unread
  FROM account_notifications
 WHERE user_id = (SELECT auth.uid())
   AND is_read IS NOT TRUE
   AND (expires_at IS NULL OR expires_at > now());

-- set_read --
-- Mark one unexpired notification of the caller read or unread; no row when not visible.
UPDATE account_notifications SET is_read = %(is_read)s
 WHERE id = %(id)s AND (expires_at IS NULL OR expires_at > now())
RETURNING id, account_id, notification_type, title, message,
       coalesce(severity, 'info') AS severity, coalesce(is_read, false) AS is_read,
       coalesce(metadata, '{}') AS metadata,
          expires_at, created_at;

-- read_all --
-- Mark the caller's unread unexpired notifications read (optionally of one account).
UPDATE account_notifications SET is_read = true
 WHERE user_id = (SELECT auth.uid())
   AND is_read IS NOT TRUE
   AND (expires_at IS NULL OR expires_at > now())
   AND (%(account_id)s::uuid IS NULL OR account_id = %(account_id)s::uuid);

-- delete_notification --
DELETE FROM account_notifications WHERE id = %(id)s RETURNING id;
