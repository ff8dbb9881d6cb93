-- Sign-up and account creation: handle_new_user() and create_account_from_template().
-- Errors carry SQLSTATE class CT (CT4xx: the caller's fault) and the stable code in HINT;
-- the Python layer maps them to typed errors (cryptotrader.db.errors).

-- The internal worker, callable only by the owner's code.
CREATE FUNCTION private.create_account_from_template(
  p_user_id uuid,
  p_template_id uuid,
  p_account_name text,
  p_is_default boolean DEFAULT false,
  p_initial_balance numeric DEFAULT NULL
) RETURNS public.paper_trading_accounts
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  t public.account_templates;
  acct public.paper_trading_accounts;
  opening numeric;
BEGIN
  IF p_template_id IS NOT NULL THEN
    SELECT * INTO t FROM public.account_templates
     WHERE id = p_template_id AND (is_public OR created_by = p_user_id);
    IF NOT FOUND THEN
      RAISE EXCEPTION 'account template % not found', p_template_id
        USING ERRCODE = 'CT404', HINT = 'template_not_found';
    END IF;
  END IF;
  opening := coalesce(p_initial_balance, t.initial_balance, 100000.00);
  IF opening IS NULL OR opening <= 0 OR opening > 1e12 OR opening = 'NaN'::numeric THEN
    RAISE EXCEPTION 'initial balance must be positive and at most 1e12'
      USING ERRCODE = 'CT422', HINT = 'invalid_amount';
  END IF;
  IF p_account_name IS NULL OR length(btrim(p_account_name)) NOT BETWEEN 1 AND 100 THEN
    RAISE EXCEPTION 'account name must have 1 to 100 characters'
      USING ERRCODE = 'CT422', HINT = 'invalid_name';
  END IF;

  INSERT INTO public.paper_trading_accounts (
    user_id, account_name, account_type, risk_level, balance, initial_balance,
    max_daily_loss, max_position_size, trading_strategy, color_theme, icon, tags,
    description, is_default, template_id)
  VALUES (
    p_user_id, btrim(p_account_name),
    coalesce(t.account_type, 'balanced'), coalesce(t.risk_level, 'medium'),
    opening, opening,
    coalesce(t.max_daily_loss, 1000.00), coalesce(t.max_position_size, 5000.00),
    coalesce(t.trading_strategy, 'manual'), coalesce(t.color_theme, '#3b82f6'),
    coalesce(t.icon, 'TrendingUp'), coalesce(t.tags, '{}'), t.description,
    p_is_default, t.id)
  RETURNING * INTO acct;

  IF t.id IS NOT NULL THEN
    UPDATE public.account_templates SET usage_count = coalesce(usage_count, 0) + 1 WHERE id = t.id;
  END IF;
  RETURN acct;  -- the opening audit row is written by a trigger on the accounts table (0006)
END
$$;

-- create_account_from_template(template_id, name, ...): a new paper account for the
-- caller with the template's settings; bumps the template's usage_count. A template the
-- caller cannot see is reported exactly like a missing one.
CREATE FUNCTION public.create_account_from_template(
  p_template_id uuid,
  p_account_name text,
  p_is_default boolean DEFAULT false,
  p_initial_balance numeric DEFAULT NULL
) RETURNS public.paper_trading_accounts
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  caller uuid := auth.uid();
BEGIN
  IF caller IS NULL THEN
    RAISE EXCEPTION 'sign in first' USING ERRCODE = 'CT401', HINT = 'not_authenticated';
  END IF;
  IF p_template_id IS NULL THEN
    RAISE EXCEPTION 'a template id is required' USING ERRCODE = 'CT422', HINT = 'template_not_found';
  END IF;
  RETURN private.create_account_from_template(caller, p_template_id, p_account_name,
                                              coalesce(p_is_default, false), p_initial_balance);
END
$$;
REVOKE EXECUTE ON FUNCTION public.create_account_from_template(uuid, text, boolean, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.create_account_from_template(uuid, text, boolean, numeric)
  TO authenticated, service_role;

-- handle_new_user(): on sign-up, the profile, default settings, the default portfolio and
-- the default paper account (from the public 'balanced' template) in the same transaction.
CREATE FUNCTION public.handle_new_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  meta jsonb := coalesce(NEW.raw_user_meta_data, '{}');
  portfolio_id uuid;
  template_id uuid;
  acct public.paper_trading_accounts;
BEGIN
  INSERT INTO public.profiles (id, email, display_name, avatar_url)
  VALUES (NEW.id, lower(NEW.email),
          coalesce(nullif(btrim(meta ->> 'display_name'), ''), nullif(btrim(meta ->> 'full_name'), ''),
                   split_part(NEW.email, '@', 1)),
          nullif(meta ->> 'avatar_url', ''));

  INSERT INTO public.portfolios (user_id, name, is_default)
  VALUES (NEW.id, 'My Portfolio', true)
  RETURNING id INTO portfolio_id;

  SELECT id INTO template_id FROM public.account_templates
   WHERE account_type = 'balanced' AND created_by IS NULL AND is_public
   ORDER BY created_at, id LIMIT 1;
  acct := private.create_account_from_template(NEW.id, template_id, 'Main Account', true, NULL);

  INSERT INTO public.portfolio_accounts (portfolio_id, account_id, user_id)
  VALUES (portfolio_id, acct.id, NEW.id);

  INSERT INTO public.user_settings (user_id, setting_name, setting_value) VALUES
    (NEW.id, 'display_currency', '"USD"'),
    (NEW.id, 'default_account_id', to_jsonb(acct.id::text)),
    (NEW.id, 'theme', '"dark"');
  RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION public.handle_new_user() FROM PUBLIC;

CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();

-- Keep profiles.email in step with the sign-in email.
CREATE FUNCTION private.sync_profile_email() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  UPDATE public.profiles SET email = lower(NEW.email) WHERE id = NEW.id;
  RETURN NEW;
END
$$;
CREATE TRIGGER on_auth_user_email_changed AFTER UPDATE OF email ON auth.users
  FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
  EXECUTE FUNCTION private.sync_profile_email();

-- updated_at on every public table that has one.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.relname
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at' AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  LOOP
    EXECUTE format(
      'CREATE TRIGGER %I BEFORE UPDATE ON public.%I FOR EACH ROW EXECUTE FUNCTION private.set_updated_at()',
      r.relname || '_set_updated_at', r.relname);
  END LOOP;
END
$$;
