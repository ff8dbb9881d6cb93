-- Sessions of the auth API: rotating refresh tokens and the login attempts that drive the
-- rate limit. Both live in schema auth, read and written only by the service
-- (the API's auth endpoints run as service_role); anon and authenticated have no grants.

-- Refresh tokens are opaque random strings; only their SHA-256 is stored. Each sign-in
-- starts a family (the session, family_id = session_id of its access tokens); each refresh
-- revokes the presented token and adds its successor (parent_id / replaced_by). A revoked
-- token that was replaced and comes back again was copied: the whole family is revoked.
CREATE TABLE auth.refresh_tokens (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  family_id    uuid NOT NULL,
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  -- one successor at most: two refreshes of one token cannot both succeed
  parent_id    uuid UNIQUE REFERENCES auth.refresh_tokens (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  replaced_by  uuid UNIQUE REFERENCES auth.refresh_tokens (id) ON DELETE SET NULL,
  user_agent   text CHECK (length(user_agent) <= 500),
  ip           inet,
  CHECK (expires_at > created_at),
  CHECK (replaced_by IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX refresh_tokens_user_id_idx ON auth.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_id_idx ON auth.refresh_tokens (family_id);
COMMENT ON TABLE auth.refresh_tokens IS
  'Rotating refresh tokens (sha256 of the opaque token); one family per sign-in.';

-- One row per password check (rate-limit key: lower(email) and client address). A row is
-- written as a failure before the password is checked and flipped to succeeded when it
-- matched, so concurrent attempts count too; a success resets the count.
CREATE TABLE auth.login_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email_lower   text NOT NULL CHECK (email_lower = lower(email_lower)),
  ip            inet,
  attempted_at  timestamptz NOT NULL DEFAULT now(),
  succeeded     boolean NOT NULL DEFAULT false
);
CREATE INDEX login_attempts_key_idx ON auth.login_attempts (email_lower, ip, attempted_at);
CREATE INDEX login_attempts_attempted_at_idx ON auth.login_attempts (attempted_at);
COMMENT ON TABLE auth.login_attempts IS
  'Password checks per email and IP, for the login rate limit; pruned past the window.';

-- Only the service: no grants to anon or authenticated, and RLS (with a policy for the
-- service alone) as a second lock should a grant ever be added by mistake.
REVOKE ALL ON auth.refresh_tokens, auth.login_attempts FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.refresh_tokens, auth.login_attempts TO service_role;
ALTER TABLE auth.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.login_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "service role manages all rows" ON auth.refresh_tokens FOR ALL TO service_role
  USING (true) WITH CHECK (true);
CREATE POLICY "service role manages all rows" ON auth.login_attempts FOR ALL TO service_role
  USING (true) WITH CHECK (true);
