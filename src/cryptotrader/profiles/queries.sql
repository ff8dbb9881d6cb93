-- get_profile --
-- The caller's profile.
SELECT id, email, display_name, avatar_url, paper_balance, created_at
  FROM profiles
 WHERE id = (SELECT auth.uid());

-- update_profile --
-- Change the name and/or the avatar (the only columns users may write); a flag says which.
UPDATE profiles
   SET display_name = CASE WHEN %(set_display_name)s THEN %(display_name)s ELSE display_name END,
       avatar_url = CASE WHEN %(set_avatar_url)s THEN %(avatar_url)s ELSE avatar_url END
 WHERE id = (SELECT auth.uid())
RETURNING id, email, display_name, avatar_url, paper_balance, created_at;

-- list_settings --
-- The caller's stored values of the given settings.
SELECT setting_name AS name, setting_value AS value, updated_at
  FROM user_settings
 WHERE user_id = (SELECT auth.uid()) AND setting_name = ANY (%(names)s);

-- upsert_setting --
INSERT INTO user_settings (user_id, setting_name, setting_value)
VALUES ((SELECT auth.uid()), %(name)s, %(value)s)
ON CONFLICT (user_id, setting_name) DO UPDATE SET setting_value = EXCLUDED.setting_value
RETURNING setting_name AS name, setting_value AS value, updated_at;

-- delete_setting --
DELETE FROM user_settings WHERE user_id = (SELECT auth.uid()) AND setting_name = %(name)s;

-- default_account --
-- The caller's account marked default, if any.
SELECT id FROM paper_trading_accounts WHERE user_id = (SELECT auth.uid()) AND is_default;

-- make_default_account --
-- Mark one of the caller's accounts default (the database unmarks the previous one).
UPDATE paper_trading_accounts SET is_default = true
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id;
