-- The seed schema (docs: ../shared/seed/database-schema.md), minus the two
-- partitioned tables (0003), plus the additions ARCHITECTURE.md names.
-- Columns, types, defaults and NOT NULLs of seed tables are exactly the seed's;
-- additions are listed in docs/schema.md.

CREATE TYPE account_type_enum AS ENUM (
  'conservative', 'balanced', 'aggressive', 'day_trading', 'swing_trading'
);
CREATE TYPE risk_level_enum AS ENUM (
  'very_low', 'low', 'medium', 'high', 'very_high', 'aggressive'
);
CREATE TYPE account_status_enum AS ENUM ('active', 'paused', 'archived', 'suspended');
CREATE TYPE bot_status_enum AS ENUM ('active', 'paused', 'stopped', 'error');
CREATE TYPE trading_mode_enum AS ENUM ('paper', 'live');

-- ---------------------------------------------------------------- users
CREATE TABLE profiles (
  id UUID PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
  email TEXT UNIQUE NOT NULL,
  display_name TEXT,
  avatar_url TEXT,
  paper_balance NUMERIC DEFAULT 100000.00,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
SELECT private.own_rows('profiles', ARRAY['select', 'update'], 'id');
REVOKE UPDATE ON profiles FROM authenticated;
GRANT UPDATE (display_name, avatar_url) ON profiles TO authenticated;

CREATE TABLE user_settings (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  setting_name TEXT NOT NULL,
  setting_value JSONB,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE(user_id, setting_name)
);
SELECT private.own_rows('user_settings');

-- ---------------------------------------------------------------- accounts
CREATE TABLE account_templates (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(100) NOT NULL,
  description TEXT,
  account_type account_type_enum NOT NULL,
  risk_level risk_level_enum NOT NULL,
  initial_balance NUMERIC NOT NULL DEFAULT 100000.00,
  max_daily_loss NUMERIC DEFAULT 1000.00,
  max_position_size NUMERIC DEFAULT 5000.00,
  trading_strategy TEXT DEFAULT 'manual',
  color_theme VARCHAR(7) DEFAULT '#3b82f6',
  icon VARCHAR(50) DEFAULT 'TrendingUp',
  tags TEXT[] DEFAULT '{}',
  is_public BOOLEAN DEFAULT TRUE,
  created_by UUID REFERENCES profiles(id) ON DELETE SET NULL,
  usage_count INTEGER DEFAULT 0,
  rating NUMERIC DEFAULT 0,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  CONSTRAINT account_templates_initial_balance_positive CHECK (initial_balance > 0),
  CONSTRAINT account_templates_limits_positive CHECK (max_daily_loss > 0 AND max_position_size > 0),
  CONSTRAINT account_templates_color_hex CHECK (color_theme ~ '^#[0-9a-fA-F]{6}$'),
  CONSTRAINT account_templates_rating_range CHECK (rating BETWEEN 0 AND 5)
);
CREATE INDEX account_templates_created_by_idx ON account_templates (created_by);
CREATE UNIQUE INDEX account_templates_system_name_key ON account_templates (name) WHERE created_by IS NULL;
ALTER TABLE account_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_templates FORCE ROW LEVEL SECURITY;
GRANT SELECT ON account_templates TO anon;
GRANT SELECT, INSERT, DELETE ON account_templates TO authenticated;
GRANT UPDATE (name, description, account_type, risk_level, initial_balance, max_daily_loss,
              max_position_size, trading_strategy, color_theme, icon, tags, is_public)
  ON account_templates TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON account_templates TO service_role;
CREATE POLICY "everyone reads public templates" ON account_templates
  FOR SELECT TO anon, authenticated USING (is_public);
CREATE POLICY "creators read their templates" ON account_templates
  FOR SELECT TO authenticated USING (created_by = (SELECT auth.uid()));
CREATE POLICY "admins read all rows" ON account_templates
  FOR SELECT TO authenticated USING ((SELECT auth.is_admin()));
CREATE POLICY "creators insert their templates" ON account_templates
  FOR INSERT TO authenticated WITH CHECK (created_by = (SELECT auth.uid()));
CREATE POLICY "creators update their templates" ON account_templates
  FOR UPDATE TO authenticated
  USING (created_by = (SELECT auth.uid())) WITH CHECK (created_by = (SELECT auth.uid()));
CREATE POLICY "creators delete their templates" ON account_templates
  FOR DELETE TO authenticated USING (created_by = (SELECT auth.uid()));
CREATE POLICY "service role manages all rows" ON account_templates
  FOR ALL TO service_role USING (true) WITH CHECK (true);

CREATE TABLE paper_trading_accounts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  account_name TEXT NOT NULL,
  account_type account_type_enum DEFAULT 'balanced',
  risk_level risk_level_enum DEFAULT 'medium',
  balance NUMERIC DEFAULT 100000.00,
  initial_balance NUMERIC DEFAULT 100000.00,
  total_pnl NUMERIC DEFAULT 0.00,
  total_pnl_percentage NUMERIC DEFAULT 0.00,
  max_daily_loss NUMERIC DEFAULT 1000.00,
  max_position_size NUMERIC DEFAULT 5000.00,
  trading_strategy TEXT DEFAULT 'manual',
  color_theme VARCHAR(7) DEFAULT '#3b82f6',
  icon VARCHAR(50) DEFAULT 'TrendingUp',
  tags TEXT[] DEFAULT '{}',
  description TEXT,
  status account_status_enum DEFAULT 'active',
  is_default BOOLEAN DEFAULT FALSE,
  last_accessed TIMESTAMPTZ DEFAULT NOW(),
  access_count INTEGER DEFAULT 0,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  -- additions
  template_id UUID REFERENCES account_templates(id) ON DELETE SET NULL,
  CONSTRAINT paper_trading_accounts_id_user_key UNIQUE (id, user_id),
  CONSTRAINT paper_trading_accounts_balance_nonnegative CHECK (balance >= 0),
  CONSTRAINT paper_trading_accounts_initial_balance_positive CHECK (initial_balance > 0),
  CONSTRAINT paper_trading_accounts_limits_positive CHECK (max_daily_loss > 0 AND max_position_size > 0),
  CONSTRAINT paper_trading_accounts_name_length CHECK (length(btrim(account_name)) BETWEEN 1 AND 100),
  CONSTRAINT paper_trading_accounts_color_hex CHECK (color_theme ~ '^#[0-9a-fA-F]{6}$')
);
CREATE INDEX paper_trading_accounts_user_id_idx ON paper_trading_accounts (user_id);
CREATE INDEX paper_trading_accounts_account_type_idx ON paper_trading_accounts (account_type);
CREATE INDEX paper_trading_accounts_status_idx ON paper_trading_accounts (status);
CREATE INDEX paper_trading_accounts_is_default_idx ON paper_trading_accounts (is_default);
CREATE INDEX paper_trading_accounts_template_id_idx ON paper_trading_accounts (template_id);
CREATE UNIQUE INDEX paper_trading_accounts_one_default ON paper_trading_accounts (user_id) WHERE is_default;
-- Users own their accounts but never write money columns, and accounts are archived,
-- never deleted by users (history is kept).
SELECT private.own_rows('paper_trading_accounts', ARRAY['select', 'insert', 'update']);
REVOKE INSERT, UPDATE ON paper_trading_accounts FROM authenticated;
GRANT INSERT (user_id, account_name, account_type, risk_level, initial_balance, max_daily_loss,
              max_position_size, trading_strategy, color_theme, icon, tags, description, is_default)
  ON paper_trading_accounts TO authenticated;
GRANT UPDATE (account_name, account_type, risk_level, max_daily_loss, max_position_size,
              trading_strategy, color_theme, icon, tags, description, status, is_default,
              last_accessed, access_count)
  ON paper_trading_accounts TO authenticated;
CREATE POLICY "admins update any account" ON paper_trading_accounts
  FOR UPDATE TO authenticated USING ((SELECT auth.is_admin())) WITH CHECK ((SELECT auth.is_admin()));

-- Opening balance equals the initial balance; only trusted code changes money or suspends.
CREATE FUNCTION private.guard_account_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT auth.is_trusted() THEN
      NEW.balance := NEW.initial_balance;
      NEW.total_pnl := 0;
      NEW.total_pnl_percentage := 0;
      NEW.access_count := 0;
      NEW.status := 'active';
    END IF;
  ELSIF NEW.status IS DISTINCT FROM OLD.status
        AND 'suspended' IN (NEW.status, OLD.status)
        AND NOT auth.is_trusted() THEN
    RAISE EXCEPTION 'only an administrator can suspend or unsuspend an account'
      USING ERRCODE = 'CT403', HINT = 'account_suspension_forbidden';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER paper_trading_accounts_guard BEFORE INSERT OR UPDATE ON paper_trading_accounts
  FOR EACH ROW EXECUTE FUNCTION private.guard_account_write();
CREATE TRIGGER paper_trading_accounts_one_default BEFORE INSERT OR UPDATE OF is_default
  ON paper_trading_accounts FOR EACH ROW EXECUTE FUNCTION private.keep_one_default();

-- Holdings per account and symbol (ARCHITECTURE.md: spot only, no shorting).
CREATE TABLE account_positions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  symbol TEXT NOT NULL,
  quantity NUMERIC NOT NULL DEFAULT 0 CHECK (quantity >= 0),
  reserved_quantity NUMERIC NOT NULL DEFAULT 0 CHECK (reserved_quantity >= 0),
  avg_entry_price NUMERIC NOT NULL DEFAULT 0 CHECK (avg_entry_price >= 0),
  realized_pnl NUMERIC NOT NULL DEFAULT 0,
  opened_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  UNIQUE (account_id, symbol),
  CHECK (reserved_quantity <= quantity),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX account_positions_user_id_idx ON account_positions (user_id);
SELECT private.own_rows('account_positions', ARRAY['select']);

-- ---------------------------------------------------------------- market data
-- Tracked coins: ticker to CoinGecko id (addition; the feed reads it).
CREATE TABLE tracked_coins (
  symbol TEXT PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{1,15}$'),
  coingecko_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  market_cap_rank INTEGER,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
SELECT private.public_rows('tracked_coins');

CREATE TABLE market_data_cache (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  symbol TEXT NOT NULL,
  name TEXT,
  price_usd NUMERIC NOT NULL,
  price_aud NUMERIC NOT NULL,
  volume_24h_usd NUMERIC,
  volume_24h_aud NUMERIC,
  change_24h NUMERIC,
  change_percentage_24h NUMERIC,
  market_cap_usd NUMERIC,
  market_cap_aud NUMERIC,
  high_24h NUMERIC,
  low_24h NUMERIC,
  exchange TEXT NOT NULL DEFAULT 'coingecko',
  last_updated TIMESTAMPTZ DEFAULT NOW(),
  CONSTRAINT market_data_cache_prices_positive CHECK (price_usd > 0 AND price_aud > 0)
);
CREATE UNIQUE INDEX market_data_cache_symbol_key ON market_data_cache (symbol);
CREATE INDEX market_data_cache_last_updated_idx ON market_data_cache (last_updated);
SELECT private.public_rows('market_data_cache');

CREATE TABLE market_candles (
  symbol TEXT NOT NULL,
  timeframe TEXT NOT NULL CHECK (timeframe IN ('1m', '5m', '15m', '30m', '1h', '4h', '1d')),
  open_time TIMESTAMPTZ NOT NULL,
  open NUMERIC NOT NULL,
  high NUMERIC NOT NULL,
  low NUMERIC NOT NULL,
  close NUMERIC NOT NULL,
  volume NUMERIC NOT NULL DEFAULT 0 CHECK (volume >= 0),
  source TEXT NOT NULL DEFAULT 'import',
  PRIMARY KEY (symbol, timeframe, open_time),
  CHECK (low <= open AND low <= close AND high >= open AND high >= close AND low > 0)
);
SELECT private.public_rows('market_candles');

-- ---------------------------------------------------------------- strategies and bots
CREATE TABLE ai_strategies (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT,
  model TEXT NOT NULL DEFAULT 'gpt-4o-mini',
  prompt TEXT NOT NULL,
  parameters JSONB NOT NULL DEFAULT '{}',
  indicators TEXT[] DEFAULT '{}',
  market_data_sources TEXT[] DEFAULT '{}',
  is_active BOOLEAN DEFAULT FALSE,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  CONSTRAINT ai_strategies_id_user_key UNIQUE (id, user_id)
);
CREATE INDEX ai_strategies_user_id_idx ON ai_strategies (user_id);
SELECT private.own_rows('ai_strategies');

CREATE TABLE ai_trading_bots (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  strategy TEXT NOT NULL,
  ai_model TEXT NOT NULL DEFAULT 'deepseek-r1',
  target_symbols TEXT[] NOT NULL,
  status bot_status_enum DEFAULT 'paused',
  mode trading_mode_enum DEFAULT 'paper',
  paper_balance NUMERIC DEFAULT 10000.00,
  max_position_size NUMERIC DEFAULT 1000.00,
  risk_level risk_level_enum DEFAULT 'medium',
  config JSONB DEFAULT '{}',
  performance JSONB DEFAULT '{}',
  last_trade_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  -- additions: the account a bot trades through, and its strategy definition
  account_id UUID,
  strategy_id UUID,
  CONSTRAINT ai_trading_bots_id_user_key UNIQUE (id, user_id),
  CONSTRAINT ai_trading_bots_capital_nonnegative CHECK (paper_balance >= 0 AND max_position_size > 0),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id)
    ON DELETE SET NULL (account_id),
  FOREIGN KEY (strategy_id, user_id) REFERENCES ai_strategies (id, user_id)
    ON DELETE SET NULL (strategy_id)
);
CREATE INDEX ai_trading_bots_user_id_idx ON ai_trading_bots (user_id);
CREATE INDEX ai_trading_bots_account_id_idx ON ai_trading_bots (account_id);
CREATE INDEX ai_trading_bots_strategy_id_idx ON ai_trading_bots (strategy_id);
CREATE INDEX ai_trading_bots_active_idx ON ai_trading_bots (account_id) WHERE status = 'active';
SELECT private.own_rows('ai_trading_bots');

-- ---------------------------------------------------------------- social
CREATE TABLE trader_follows (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  trader_name TEXT NOT NULL,
  trader_category TEXT NOT NULL DEFAULT 'Other',
  follower_id UUID REFERENCES profiles(id) ON DELETE CASCADE,
  followed_id UUID REFERENCES profiles(id) ON DELETE CASCADE,
  copy_trading_enabled BOOLEAN DEFAULT FALSE,
  allocation_percentage NUMERIC DEFAULT 0,
  followed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT trader_follows_follower_is_owner CHECK (follower_id IS NULL OR follower_id = user_id),
  CONSTRAINT trader_follows_not_self CHECK (followed_id IS DISTINCT FROM user_id),
  CONSTRAINT trader_follows_allocation_range CHECK (allocation_percentage BETWEEN 0 AND 100)
);
CREATE INDEX trader_follows_user_id_idx ON trader_follows (user_id);
CREATE INDEX trader_follows_follower_id_idx ON trader_follows (follower_id);
CREATE INDEX trader_follows_followed_id_idx ON trader_follows (followed_id);
CREATE UNIQUE INDEX trader_follows_pair_key ON trader_follows (user_id, followed_id)
  WHERE followed_id IS NOT NULL;
CREATE INDEX trader_follows_copiers_idx ON trader_follows (followed_id)
  WHERE copy_trading_enabled AND is_active;
SELECT private.own_rows('trader_follows');
CREATE POLICY "traders see who follows them" ON trader_follows
  FOR SELECT TO authenticated USING (followed_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------- portfolios
CREATE TABLE portfolios (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  name TEXT NOT NULL DEFAULT 'My Portfolio',
  mode trading_mode_enum DEFAULT 'paper',
  initial_balance NUMERIC DEFAULT 10000.00,
  current_balance NUMERIC DEFAULT 10000.00,
  total_value NUMERIC DEFAULT 10000.00,
  total_pnl NUMERIC DEFAULT 0.00,
  total_pnl_percentage NUMERIC DEFAULT 0.00,
  positions JSONB DEFAULT '{}',
  is_default BOOLEAN DEFAULT FALSE,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  CONSTRAINT portfolios_id_user_key UNIQUE (id, user_id)
);
CREATE INDEX portfolios_user_id_idx ON portfolios (user_id);
CREATE UNIQUE INDEX portfolios_one_default ON portfolios (user_id) WHERE is_default;
SELECT private.own_rows('portfolios');
REVOKE INSERT, UPDATE ON portfolios FROM authenticated;
GRANT INSERT (user_id, name, mode, is_default) ON portfolios TO authenticated;
GRANT UPDATE (name, mode, is_default) ON portfolios TO authenticated;
CREATE TRIGGER portfolios_one_default BEFORE INSERT OR UPDATE OF is_default ON portfolios
  FOR EACH ROW EXECUTE FUNCTION private.keep_one_default();

-- Which accounts a portfolio groups (addition).
CREATE TABLE portfolio_accounts (
  portfolio_id UUID NOT NULL,
  account_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  added_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (portfolio_id, account_id),
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE,
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX portfolio_accounts_account_id_idx ON portfolio_accounts (account_id);
CREATE INDEX portfolio_accounts_user_id_idx ON portfolio_accounts (user_id);
SELECT private.own_rows('portfolio_accounts', ARRAY['select', 'insert', 'delete']);

CREATE TABLE portfolio_snapshots (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  portfolio_id UUID NOT NULL,
  snapshot_date DATE NOT NULL,
  total_value NUMERIC NOT NULL,
  pnl_daily NUMERIC DEFAULT 0,
  pnl_percentage NUMERIC DEFAULT 0,
  positions_snapshot JSONB DEFAULT '{}',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE(portfolio_id, snapshot_date),
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE
);
CREATE INDEX portfolio_snapshots_user_id_idx ON portfolio_snapshots (user_id);
SELECT private.own_rows('portfolio_snapshots', ARRAY['select']);

CREATE TABLE watchlists (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  name TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
  symbols TEXT[] NOT NULL DEFAULT '{}',
  is_default BOOLEAN NOT NULL DEFAULT FALSE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  UNIQUE (user_id, name),
  CONSTRAINT watchlists_symbols_limit CHECK (cardinality(symbols) <= 500)
);
CREATE UNIQUE INDEX watchlists_one_default ON watchlists (user_id) WHERE is_default;
SELECT private.own_rows('watchlists');
CREATE TRIGGER watchlists_one_default BEFORE INSERT OR UPDATE OF is_default ON watchlists
  FOR EACH ROW EXECUTE FUNCTION private.keep_one_default();

-- ---------------------------------------------------------------- notifications and alerts
CREATE TABLE account_notifications (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  notification_type VARCHAR(50) NOT NULL,
  title VARCHAR(200) NOT NULL,
  message TEXT NOT NULL,
  severity VARCHAR(20) DEFAULT 'info',
  is_read BOOLEAN DEFAULT FALSE,
  metadata JSONB DEFAULT '{}',
  expires_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  CONSTRAINT account_notifications_severity CHECK (severity IN ('info', 'success', 'warning', 'error', 'critical')),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX account_notifications_account_id_idx ON account_notifications (account_id);
CREATE INDEX account_notifications_unread_idx ON account_notifications (user_id, created_at DESC)
  WHERE NOT is_read;
SELECT private.own_rows('account_notifications', ARRAY['select', 'update', 'delete']);
REVOKE UPDATE ON account_notifications FROM authenticated;
GRANT UPDATE (is_read) ON account_notifications TO authenticated;

CREATE TABLE risk_alerts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  alert_type TEXT NOT NULL,
  symbol TEXT,
  trigger_condition TEXT NOT NULL,
  trigger_value NUMERIC,
  current_value NUMERIC,
  bot_id UUID,
  portfolio_id UUID,
  status TEXT DEFAULT 'active',
  alert_config JSONB DEFAULT '{}',
  triggered_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  -- addition: alerts about one account (daily loss limit, drawdown)
  account_id UUID,
  CONSTRAINT risk_alerts_status CHECK (status IN ('active', 'triggered', 'acknowledged', 'disabled')),
  FOREIGN KEY (bot_id, user_id) REFERENCES ai_trading_bots (id, user_id) ON DELETE SET NULL (bot_id),
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE SET NULL (portfolio_id),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX risk_alerts_user_id_idx ON risk_alerts (user_id);
CREATE INDEX risk_alerts_bot_id_idx ON risk_alerts (bot_id);
CREATE INDEX risk_alerts_portfolio_id_idx ON risk_alerts (portfolio_id);
CREATE INDEX risk_alerts_account_id_idx ON risk_alerts (account_id);
CREATE INDEX risk_alerts_active_idx ON risk_alerts (symbol) WHERE status = 'active';
SELECT private.own_rows('risk_alerts');

-- ---------------------------------------------------------------- backtests
CREATE TABLE backtest_sessions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  session_name TEXT NOT NULL,
  symbol TEXT NOT NULL,
  timeframe TEXT DEFAULT '1h',
  strategy_id UUID,
  bot_id UUID,
  start_date TIMESTAMPTZ NOT NULL,
  end_date TIMESTAMPTZ NOT NULL,
  initial_capital NUMERIC DEFAULT 10000,
  final_capital NUMERIC DEFAULT 0,
  total_trades INTEGER DEFAULT 0,
  winning_trades INTEGER DEFAULT 0,
  losing_trades INTEGER DEFAULT 0,
  win_rate NUMERIC DEFAULT 0,
  profit_factor NUMERIC DEFAULT 0,
  max_drawdown NUMERIC DEFAULT 0,
  sharpe_ratio NUMERIC DEFAULT 0,
  sortino_ratio NUMERIC DEFAULT 0,
  calmar_ratio NUMERIC DEFAULT 0,
  backtest_config JSONB DEFAULT '{}',
  results_data JSONB DEFAULT '{}',
  equity_curve JSONB DEFAULT '[]',
  trade_history JSONB DEFAULT '[]',
  status TEXT DEFAULT 'pending',
  completed_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  -- additions: progress while running, the error when failed
  progress NUMERIC NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
  error TEXT,
  started_at TIMESTAMPTZ,
  CONSTRAINT backtest_sessions_id_user_key UNIQUE (id, user_id),
  CONSTRAINT backtest_sessions_status CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  CONSTRAINT backtest_sessions_range CHECK (end_date > start_date),
  FOREIGN KEY (strategy_id, user_id) REFERENCES ai_strategies (id, user_id) ON DELETE SET NULL (strategy_id),
  FOREIGN KEY (bot_id, user_id) REFERENCES ai_trading_bots (id, user_id) ON DELETE SET NULL (bot_id)
);
CREATE INDEX backtest_sessions_user_id_idx ON backtest_sessions (user_id, created_at DESC);
CREATE INDEX backtest_sessions_strategy_id_idx ON backtest_sessions (strategy_id);
CREATE INDEX backtest_sessions_bot_id_idx ON backtest_sessions (bot_id);
CREATE INDEX backtest_sessions_pending_idx ON backtest_sessions (created_at) WHERE status = 'pending';
SELECT private.own_rows('backtest_sessions', ARRAY['select', 'insert', 'update', 'delete']);
REVOKE UPDATE ON backtest_sessions FROM authenticated;
GRANT UPDATE (session_name, status) ON backtest_sessions TO authenticated;

-- One row per result of a session: one for a plain run, one per parameter set of a sweep.
CREATE TABLE backtest_results (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  parameters JSONB NOT NULL DEFAULT '{}',
  rank INTEGER,
  final_capital NUMERIC NOT NULL DEFAULT 0,
  total_return NUMERIC NOT NULL DEFAULT 0,
  total_trades INTEGER NOT NULL DEFAULT 0,
  winning_trades INTEGER NOT NULL DEFAULT 0,
  losing_trades INTEGER NOT NULL DEFAULT 0,
  win_rate NUMERIC,
  profit_factor NUMERIC,
  max_drawdown NUMERIC,
  sharpe_ratio NUMERIC,
  sortino_ratio NUMERIC,
  calmar_ratio NUMERIC,
  stats JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  FOREIGN KEY (session_id, user_id) REFERENCES backtest_sessions (id, user_id) ON DELETE CASCADE
);
CREATE INDEX backtest_results_session_idx ON backtest_results (session_id, rank);
CREATE INDEX backtest_results_user_id_idx ON backtest_results (user_id);
SELECT private.own_rows('backtest_results', ARRAY['select', 'delete']);

-- ---------------------------------------------------------------- audit (append-only)
CREATE TABLE audit_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES profiles(id) ON DELETE SET NULL,
  action TEXT NOT NULL,
  resource_type TEXT,
  resource_id TEXT,
  details JSONB DEFAULT '{}',
  ip_address INET,
  user_agent TEXT,
  timestamp TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id, timestamp DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, resource_id);
SELECT private.own_rows('audit_logs', ARRAY['select', 'insert']);

CREATE TABLE paper_account_audit (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  account_id UUID NOT NULL,
  action TEXT NOT NULL,
  old_balance NUMERIC,
  new_balance NUMERIC,
  amount_changed NUMERIC,
  reason TEXT,
  metadata JSONB DEFAULT '{}',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX paper_account_audit_account_idx ON paper_account_audit (account_id, created_at);
CREATE INDEX paper_account_audit_user_id_idx ON paper_account_audit (user_id);
SELECT private.own_rows('paper_account_audit', ARRAY['select']);

-- Audit rows are history: nobody but the table owner's maintenance changes them.
CREATE FUNCTION private.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF current_user IN ('anon', 'authenticated', 'service_role') THEN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
      USING ERRCODE = 'CT403', HINT = 'append_only';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION private.refuse_audit_change();
CREATE TRIGGER paper_account_audit_append_only BEFORE UPDATE OR DELETE ON paper_account_audit
  FOR EACH ROW EXECUTE FUNCTION private.refuse_audit_change();
REVOKE UPDATE, DELETE ON audit_logs, paper_account_audit FROM service_role;
