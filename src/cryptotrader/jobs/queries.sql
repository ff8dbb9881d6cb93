-- record_error --
-- One failed attempt of a job and what it raised (run on procrastinate's own connection).
INSERT INTO private.job_errors (job_id, task_name, attempt, error, retry_at)
VALUES (%(job_id)s, %(task_name)s, %(attempt)s, %(error)s, %(retry_at)s)

-- use_procrastinate_schema --
-- For the rest of the transaction, procrastinate's tables first: its functions and the
-- triggers on its jobs table name them unqualified.
SELECT set_config('search_path', 'procrastinate, public', true);

-- jobs_by_task --
-- How many jobs of each task are in each status.
SELECT task_name, status::text AS status, count(*)::int AS n
  FROM procrastinate.procrastinate_jobs
 GROUP BY task_name, status
 ORDER BY task_name, status;

-- recent_failures --
-- The failed jobs, the latest failure first, with their last recorded error.
SELECT j.id, j.task_name, j.args, j.attempts, f.at AS failed_at, e.error
  FROM procrastinate.procrastinate_jobs j
  LEFT JOIN LATERAL (
    SELECT max(ev.at) AS at FROM procrastinate.procrastinate_events ev
     WHERE ev.job_id = j.id AND ev.type = 'failed') f ON true
  LEFT JOIN LATERAL (
    SELECT r.error FROM private.job_errors r
     WHERE r.job_id = j.id ORDER BY r.at DESC, r.id DESC LIMIT 1) e ON true
 WHERE j.status = 'failed'
 ORDER BY f.at DESC NULLS LAST, j.id DESC
 LIMIT %(limit)s;

-- stalled_jobs --
-- Jobs being run by a worker that stopped heartbeating (or is gone): procrastinate's own
-- test (select_stalled_jobs_by_heartbeat), with when they started.
SELECT j.id, j.task_name, j.args, j.attempts, j.worker_id, w.last_heartbeat, s.at AS started_at
  FROM procrastinate.procrastinate_jobs j
  LEFT JOIN procrastinate.procrastinate_workers w ON w.id = j.worker_id
  LEFT JOIN LATERAL (
    SELECT max(ev.at) AS at FROM procrastinate.procrastinate_events ev
     WHERE ev.job_id = j.id AND ev.type = 'started') s ON true
 WHERE j.status = 'doing'
   AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %(stalled_after)s))
 ORDER BY j.id;

-- live_workers --
-- Workers whose heartbeat is recent.
SELECT count(*)::int AS n FROM procrastinate.procrastinate_workers
 WHERE last_heartbeat >= now() - make_interval(secs => %(stalled_after)s);

-- last_periodic_defers --
-- The latest period each periodic task was deferred for (procrastinate keeps only that
-- one), with its job's status.
SELECT d.task_name, d.periodic_id, d.defer_timestamp, d.job_id, j.status::text AS status
  FROM procrastinate.procrastinate_periodic_defers d
  LEFT JOIN procrastinate.procrastinate_jobs j ON j.id = d.job_id;

-- lock_job --
SELECT id, task_name, status::text AS status
  FROM procrastinate.procrastinate_jobs WHERE id = %(id)s FOR UPDATE;

-- retry_job --
-- A failed job back to todo, to run now (procrastinate's function: it counts the attempt).
SELECT procrastinate.procrastinate_retry_job_v2(%(id)s, now(), NULL, NULL, NULL);

-- get_job --
SELECT id, task_name, queue_name, status::text AS status, args, attempts, scheduled_at
  FROM procrastinate.procrastinate_jobs WHERE id = %(id)s;

-- create_partitions_ahead --
-- The coming months' partitions of the partitioned tables (migration 0003); idempotent.
SELECT public.create_partitions_ahead(%(months)s) AS created;

-- prune_finished_jobs --
-- Finished jobs whose last event is older than their retention: succeeded, cancelled and
-- aborted ones a week, failed ones a month (their events and errors go with them).
DELETE FROM procrastinate.procrastinate_jobs j
 WHERE j.status IN ('succeeded', 'cancelled', 'aborted', 'failed')
   AND NOT EXISTS (
     SELECT 1 FROM procrastinate.procrastinate_events ev
      WHERE ev.job_id = j.id
        AND ev.at >= now() - CASE WHEN j.status = 'failed' THEN interval '30 days'
                                  ELSE interval '7 days' END);
