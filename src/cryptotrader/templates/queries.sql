-- list_templates --
-- Public templates and the caller's own (anonymous callers: public ones), newest first.
SELECT t.id, t.name, t.description, t.account_type, t.risk_level, t.initial_balance,
       t.max_daily_loss, t.max_position_size, t.trading_strategy, t.color_theme, t.icon,
       coalesce(t.tags, '{}') AS tags, coalesce(t.is_public, false) AS is_public,
       t.created_by IS NULL AS is_builtin,
       coalesce(t.created_by = (SELECT auth.uid()), false) AS is_own,
       coalesce(t.usage_count, 0) AS usage_count, coalesce(t.rating, 0) AS rating,
       t.rating_count, t.created_at, t.updated_at
  FROM account_templates t
 WHERE (t.is_public OR t.created_by = (SELECT auth.uid()))
   AND (%(after_at)s::timestamptz IS NULL
        OR (t.created_at, t.id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT %(limit)s;

-- get_template --
-- One template the caller may see (RLS: public, their own; admins: any).
SELECT t.id, t.name, t.description, t.account_type, t.risk_level, t.initial_balance,
       t.max_daily_loss, t.max_position_size, t.trading_strategy, t.color_theme, t.icon,
       coalesce(t.tags, '{}') AS tags, coalesce(t.is_public, false) AS is_public,
       t.created_by IS NULL AS is_builtin,
       coalesce(t.created_by = (SELECT auth.uid()), false) AS is_own,
       coalesce(t.usage_count, 0) AS usage_count, coalesce(t.rating, 0) AS rating,
       t.rating_count, t.created_at, t.updated_at
  FROM account_templates t
 WHERE t.id = %(id)s;

-- my_ratings --
-- The caller's ratings of the given templates.
SELECT template_id, rating
  FROM template_ratings
 WHERE user_id = (SELECT auth.uid()) AND template_id = ANY (%(ids)s);

-- insert_template --
INSERT INTO account_templates (
  name, description, account_type, risk_level, initial_balance, max_daily_loss,
  max_position_size, trading_strategy, color_theme, icon, tags, is_public, created_by)
VALUES (
  %(name)s, %(description)s, %(account_type)s, %(risk_level)s, %(initial_balance)s,
  %(max_daily_loss)s, %(max_position_size)s, %(trading_strategy)s, %(color_theme)s, %(icon)s,
  %(tags)s, %(is_public)s, (SELECT auth.uid()))
RETURNING id;

-- delete_template --
-- Only the creator deletes (RLS); accounts made from it keep existing, unlinked.
DELETE FROM account_templates
 WHERE id = %(id)s AND created_by = (SELECT auth.uid())
RETURNING id, name;

-- rate_template --
SELECT rate_template(%(id)s, %(rating)s);
