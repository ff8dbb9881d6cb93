-- Account states that mean what they say (issue 10), and orders that say what they lack.
--
-- * Archiving is final: an archived account is never paused, resumed or suspended again,
--   by its owner or by an administrator (only maintenance as the service role or the
--   database owner may reopen one). Pausing is the reversible way to stop an account.
-- * An archived account is never the default account: archiving the default one clears
--   is_default and hands the default on to the caller's oldest active account (and the
--   default_account_id setting with it), or forgets the setting when no active account is
--   left. Making an archived account the default is refused.
-- * A limit order without a limit price, or a stop order without a stop price, is refused
--   with a message that says the price is required (it used to say the price had to be a
--   positive number).

-- ------------------------------------------------------------------ archive is final

-- Plain (no SET clause, names qualified): it is on the order path's account update, though
-- its WHEN clause keeps every update that does not touch an archived state off it.
CREATE FUNCTION private.guard_account_archive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'archived' AND NEW.status IS DISTINCT FROM 'archived'
     AND coalesce(pg_catalog.current_setting('role', true), 'none')
         IN ('authenticated', 'anon') THEN
    RAISE EXCEPTION 'account is archived, and archiving is final (pause an account to stop it for a while)'
      USING ERRCODE = 'CT409', HINT = 'account_archived';
  END IF;
  IF NEW.status = 'archived' THEN
    IF OLD.status IS DISTINCT FROM 'archived' THEN
      NEW.is_default := false;  -- the default moves on (paper_trading_accounts_default_moves_on)
    ELSIF NEW.is_default AND NOT coalesce(OLD.is_default, false) THEN
      RAISE EXCEPTION 'an archived account cannot be the default account'
        USING ERRCODE = 'CT409', HINT = 'account_archived';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
-- BEFORE triggers fire in name order: this one before paper_trading_accounts_guard.
CREATE TRIGGER paper_trading_accounts_archive_is_final BEFORE UPDATE ON paper_trading_accounts
  FOR EACH ROW WHEN (OLD.status = 'archived' OR NEW.status = 'archived')
  EXECUTE FUNCTION private.guard_account_archive();

-- ------------------------------------------------------------------ the default moves on

-- The user's oldest active account becomes their default account and the
-- default_account_id setting names it; without an active account the setting is forgotten
-- (it then reads as "no default"). Returns the new default, or NULL.
CREATE FUNCTION private.hand_on_default_account(p_user_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  next_id uuid;
BEGIN
  SELECT id INTO next_id FROM public.paper_trading_accounts
   WHERE user_id = p_user_id AND status = 'active'
   ORDER BY created_at, id
   LIMIT 1;
  IF next_id IS NULL THEN
    DELETE FROM public.user_settings
     WHERE user_id = p_user_id AND setting_name = 'default_account_id';
  ELSE
    UPDATE public.paper_trading_accounts SET is_default = true WHERE id = next_id;
    INSERT INTO public.user_settings (user_id, setting_name, setting_value)
    VALUES (p_user_id, 'default_account_id', to_jsonb(next_id::text))
    ON CONFLICT (user_id, setting_name) DO UPDATE SET setting_value = EXCLUDED.setting_value;
  END IF;
  RETURN next_id;
END
$$;
REVOKE EXECUTE ON FUNCTION private.hand_on_default_account(uuid) FROM PUBLIC;

CREATE FUNCTION private.default_moves_on() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.paper_trading_accounts
                  WHERE user_id = NEW.user_id AND is_default) THEN
    PERFORM private.hand_on_default_account(NEW.user_id);
  END IF;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.default_moves_on() FROM PUBLIC;

CREATE TRIGGER paper_trading_accounts_default_moves_on AFTER UPDATE OF status
  ON paper_trading_accounts FOR EACH ROW
  WHEN (OLD.is_default AND NEW.status = 'archived' AND OLD.status IS DISTINCT FROM 'archived')
  EXECUTE FUNCTION private.default_moves_on();

-- Accounts archived before this migration while they were the default.
DO $$
DECLARE
  uid uuid;
BEGIN
  FOR uid IN
    UPDATE public.paper_trading_accounts SET is_default = false
     WHERE is_default AND status = 'archived'
    RETURNING user_id
  LOOP
    PERFORM private.hand_on_default_account(uid);
  END LOOP;
END
$$;

-- ------------------------------------------------------------------ a price is required

-- As in 0006, plus the message for a missing value: a limit or stop order without its
-- price says that the price is required (same code, invalid_price).
CREATE OR REPLACE FUNCTION private.check_amount(p_value numeric, p_what text, p_code text DEFAULT 'invalid_amount')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_value IS NULL THEN
    PERFORM private.reject(p_code, CASE p_what
        WHEN 'limit price' THEN 'limit_price is required for limit orders'
        WHEN 'stop price' THEN 'stop_price is required for stop orders'
        ELSE format('%s is required', p_what)
      END, 'CT422');
  END IF;
  IF p_value = 'NaN'::numeric OR p_value <= 0 OR p_value >= 1e15 OR scale(p_value) > 18 THEN
    PERFORM private.reject(p_code,
      format('%s must be a positive number below 1e15 with at most 18 decimals', p_what), 'CT422');
  END IF;
END
$$;
