-- Supabase-style roles and the auth schema.
-- anon / authenticated / service_role are NOLOGIN roles the app's login role switches
-- to per transaction; auth.uid() and friends read the JWT claims the API sets.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN;
  END IF;
END
$$;

-- Nothing is executable or creatable by default; every grant below is deliberate.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

-- Internal helpers live here; the API roles have no usage on it.
CREATE SCHEMA private;
REVOKE ALL ON SCHEMA private FROM PUBLIC;

CREATE SCHEMA auth;
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE TABLE auth.users (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email               text NOT NULL CHECK (email = btrim(email) AND email LIKE '%_@_%'),
  encrypted_password  text,
  raw_user_meta_data  jsonb NOT NULL DEFAULT '{}',
  raw_app_meta_data   jsonb NOT NULL DEFAULT '{}',
  role                text NOT NULL DEFAULT 'authenticated',
  email_confirmed_at  timestamptz,
  last_sign_in_at     timestamptz,
  banned_until        timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON auth.users (lower(email));
COMMENT ON TABLE auth.users IS
  'Sign-in identities (Supabase-compatible). encrypted_password holds an argon2id hash.';

-- The claims of the current request, as PostgREST/Supabase set them. These read-only
-- helpers pin no search_path (every name in them is qualified or built in) so that the
-- planner inlines them: every policy calls auth.uid().
CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(auth.jwt() ->> 'sub', '')::uuid
$$;

CREATE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(auth.jwt() ->> 'role', current_user::text)
$$;

-- Admins carry app_metadata.role = 'admin' in their claims. app_metadata is only ever
-- written by the service (never from sign-up metadata), as in Supabase.
CREATE FUNCTION auth.is_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin', false)
$$;

-- Code that runs as the table owner (SECURITY DEFINER functions, migrations) or as
-- the service is trusted; direct writes by API users are not.
CREATE FUNCTION auth.is_trusted() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT current_user NOT IN ('anon', 'authenticated') OR auth.is_admin()
$$;

GRANT EXECUTE ON FUNCTION auth.jwt(), auth.uid(), auth.role(), auth.is_admin(), auth.is_trusted()
  TO anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.users TO service_role;

-- updated_at is kept by the database, whatever the client sends.
CREATE FUNCTION private.set_updated_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON auth.users
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();

-- RLS for a table owned through a user column: one policy per command for owners,
-- read for admins, everything for the service. Grants follow the commands allowed.
-- Called right after each CREATE TABLE, so a table's policies ship with it.
CREATE FUNCTION private.own_rows(
  tbl regclass,
  commands text[] DEFAULT ARRAY['select', 'insert', 'update', 'delete'],
  owner_col name DEFAULT 'user_id'
) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  owner_check text := format('%I = (SELECT auth.uid())', owner_col);
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO service_role', tbl);
  EXECUTE format(
    'CREATE POLICY "service role manages all rows" ON %s FOR ALL TO service_role'
    ' USING (true) WITH CHECK (true)', tbl);
  EXECUTE format(
    'CREATE POLICY "admins read all rows" ON %s FOR SELECT TO authenticated'
    ' USING ((SELECT auth.is_admin()))', tbl);
  IF 'select' = ANY (commands) THEN
    EXECUTE format('GRANT SELECT ON %s TO authenticated', tbl);
    EXECUTE format(
      'CREATE POLICY "owners read their rows" ON %s FOR SELECT TO authenticated USING (%s)',
      tbl, owner_check);
  END IF;
  IF 'insert' = ANY (commands) THEN
    EXECUTE format('GRANT INSERT ON %s TO authenticated', tbl);
    EXECUTE format(
      'CREATE POLICY "owners insert their rows" ON %s FOR INSERT TO authenticated WITH CHECK (%s)',
      tbl, owner_check);
  END IF;
  IF 'update' = ANY (commands) THEN
    EXECUTE format('GRANT UPDATE ON %s TO authenticated', tbl);
    EXECUTE format(
      'CREATE POLICY "owners update their rows" ON %s FOR UPDATE TO authenticated'
      ' USING (%s) WITH CHECK (%s)', tbl, owner_check, owner_check);
  END IF;
  IF 'delete' = ANY (commands) THEN
    EXECUTE format('GRANT DELETE ON %s TO authenticated', tbl);
    EXECUTE format(
      'CREATE POLICY "owners delete their rows" ON %s FOR DELETE TO authenticated USING (%s)',
      tbl, owner_check);
  END IF;
END
$$;

-- Public reference data: everyone reads, admins and the service write.
CREATE FUNCTION private.public_rows(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('GRANT SELECT ON %s TO anon, authenticated', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO service_role', tbl);
  EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO authenticated', tbl);
  EXECUTE format('CREATE POLICY "everyone reads" ON %s FOR SELECT TO anon, authenticated USING (true)', tbl);
  EXECUTE format(
    'CREATE POLICY "service role manages all rows" ON %s FOR ALL TO service_role'
    ' USING (true) WITH CHECK (true)', tbl);
  EXECUTE format(
    'CREATE POLICY "admins insert" ON %s FOR INSERT TO authenticated WITH CHECK ((SELECT auth.is_admin()))', tbl);
  EXECUTE format(
    'CREATE POLICY "admins update" ON %s FOR UPDATE TO authenticated'
    ' USING ((SELECT auth.is_admin())) WITH CHECK ((SELECT auth.is_admin()))', tbl);
  EXECUTE format(
    'CREATE POLICY "admins delete" ON %s FOR DELETE TO authenticated USING ((SELECT auth.is_admin()))', tbl);
END
$$;

-- Keeps at most one is_default row per user: setting one clears the others.
CREATE FUNCTION private.keep_one_default() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF NEW.is_default THEN
    EXECUTE format(
      'UPDATE %I.%I SET is_default = false WHERE user_id = $1 AND id <> $2 AND is_default',
      TG_TABLE_SCHEMA, TG_TABLE_NAME)
    USING NEW.user_id, NEW.id;
  END IF;
  RETURN NEW;
END
$$;
