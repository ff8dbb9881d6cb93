-- listen --
-- Subscribe the listener's session to a NOTIFY channel (the identifier is composed in).
LISTEN {};

-- last_event_id --
-- The newest id of the outbox: delivery starts after it (older events are the past).
SELECT coalesce(max(id), 0) AS last FROM private.stream_events;

-- read_events --
-- The committed outbox events after the newest one delivered, and those still awaited
-- below it (ids are taken before commit, so a late commit fills a gap), oldest first.
SELECT id, channel, payload::text AS payload FROM private.stream_events
 WHERE id > %(last)s OR id = ANY(%(gaps)s) ORDER BY id LIMIT 5000;

-- prune_events --
-- Forget the events older than a minute: every listener has read them by then.
DELETE FROM private.stream_events WHERE created_at < now() - interval '1 minute';

-- prune_stale_events --
-- The daily sweep (the maintenance job): events ten times older than any listener reads,
-- for when no API process runs to forget them (the workers' fills append events too).
DELETE FROM private.stream_events WHERE created_at < now() - interval '10 minutes';
