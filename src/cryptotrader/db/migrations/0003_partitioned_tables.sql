-- paper_trades by month on created_at, account_analytics by quarter on analytics_date.
-- A partitioned table's primary key must contain its partition key, so the seed's
-- PRIMARY KEY (id) becomes (id, created_at) / (id, analytics_date); id stays unique by
-- construction (gen_random_uuid). A DEFAULT partition catches any row whose range has
-- no partition yet, so an insert never fails for want of one.

CREATE TABLE paper_trades (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  account_id UUID,
  bot_id UUID,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  amount NUMERIC NOT NULL DEFAULT 0,
  price NUMERIC NOT NULL DEFAULT 0,
  execution_price NUMERIC DEFAULT 0,
  total_value NUMERIC NOT NULL DEFAULT 0,
  fee NUMERIC NOT NULL DEFAULT 0,
  trade_type TEXT DEFAULT 'market',
  order_type TEXT DEFAULT 'market',
  status TEXT NOT NULL DEFAULT 'completed',
  risk_score NUMERIC DEFAULT 0,
  confidence_level NUMERIC DEFAULT 50,
  stop_loss NUMERIC,
  take_profit NUMERIC,
  execution_time_ms INTEGER DEFAULT 0,
  reasoning TEXT,
  trade_category VARCHAR(50) DEFAULT 'manual',
  tags TEXT[] DEFAULT '{}',
  notes TEXT,
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (id, created_at),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE,
  FOREIGN KEY (bot_id, user_id) REFERENCES ai_trading_bots (id, user_id) ON DELETE SET NULL (bot_id)
) PARTITION BY RANGE (created_at);
CREATE TABLE paper_trades_default PARTITION OF paper_trades DEFAULT;

CREATE INDEX paper_trades_user_id_idx ON paper_trades (user_id);
CREATE INDEX paper_trades_account_id_idx ON paper_trades (account_id);
CREATE INDEX paper_trades_bot_id_idx ON paper_trades (bot_id);
CREATE INDEX paper_trades_symbol_idx ON paper_trades (symbol);
CREATE INDEX paper_trades_side_idx ON paper_trades (side);
CREATE INDEX paper_trades_created_at_idx ON paper_trades (created_at);
CREATE INDEX paper_trades_user_account_idx ON paper_trades (user_id, account_id);
CREATE INDEX paper_trades_pending_idx ON paper_trades (symbol, account_id) WHERE status = 'pending';
SELECT private.own_rows('paper_trades', ARRAY['select', 'update']);
-- Trades are written only by execute_paper_trade; users may annotate them.
REVOKE UPDATE ON paper_trades FROM authenticated;
GRANT UPDATE (notes, tags) ON paper_trades TO authenticated;

CREATE TABLE account_analytics (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  account_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  analytics_date DATE NOT NULL DEFAULT CURRENT_DATE,
  daily_return NUMERIC DEFAULT 0,
  weekly_return NUMERIC DEFAULT 0,
  monthly_return NUMERIC DEFAULT 0,
  quarterly_return NUMERIC DEFAULT 0,
  yearly_return NUMERIC DEFAULT 0,
  volatility NUMERIC DEFAULT 0,
  sharpe_ratio NUMERIC DEFAULT 0,
  sortino_ratio NUMERIC DEFAULT 0,
  max_drawdown NUMERIC DEFAULT 0,
  current_drawdown NUMERIC DEFAULT 0,
  total_trades INTEGER DEFAULT 0,
  winning_trades INTEGER DEFAULT 0,
  losing_trades INTEGER DEFAULT 0,
  win_rate NUMERIC DEFAULT 0,
  avg_win NUMERIC DEFAULT 0,
  avg_loss NUMERIC DEFAULT 0,
  profit_factor NUMERIC DEFAULT 0,
  active_positions INTEGER DEFAULT 0,
  largest_position NUMERIC DEFAULT 0,
  portfolio_diversity NUMERIC DEFAULT 0,
  cash_percentage NUMERIC DEFAULT 100,
  benchmark_return NUMERIC DEFAULT 0,
  alpha NUMERIC DEFAULT 0,
  beta NUMERIC DEFAULT 1,
  correlation NUMERIC DEFAULT 0,
  custom_metrics JSONB DEFAULT '{}',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  PRIMARY KEY (id, analytics_date),
  UNIQUE (account_id, analytics_date),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
) PARTITION BY RANGE (analytics_date);
CREATE TABLE account_analytics_default PARTITION OF account_analytics DEFAULT;
CREATE INDEX account_analytics_user_id_idx ON account_analytics (user_id);
SELECT private.own_rows('account_analytics', ARRAY['select']);

-- Every partition is a table of its own: RLS forced with no policy and no grant, so it
-- can only be reached through its parent (whose policies apply).
CREATE FUNCTION private.lock_down_partition(part regclass) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, anon, authenticated, service_role', part);
END
$$;
SELECT private.lock_down_partition('paper_trades_default');
SELECT private.lock_down_partition('account_analytics_default');

-- Bounds are literals of the key's type (timestamptz ones carry their UTC offset).
-- Creates the partition [lo, hi) of parent unless it exists, first moving any rows of
-- that range out of the default partition (attaching would fail otherwise).
CREATE FUNCTION private.create_range_partition(
  parent regclass, part_name text, key_col name, lo text, hi text
) RETURNS boolean
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  default_part regclass := (parent::text || '_default')::regclass;
  part text := format('public.%I', part_name);
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
  EXECUTE format(
    'WITH moved AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %s SELECT * FROM moved',
    default_part, key_col, lo, key_col, hi, part);
  EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
  PERFORM private.lock_down_partition(part::regclass);
  RETURN true;
END
$$;

-- Monthly paper_trades and quarterly account_analytics partitions from the current
-- period to months_ahead ahead. Called by migrate and by the daily maintenance job.
CREATE FUNCTION public.create_partitions_ahead(months_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  created integer := 0;
  m date;
  q date;
BEGIN
  IF months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 120' USING ERRCODE = '22023';
  END IF;
  FOR i IN 0..months_ahead LOOP
    m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
    IF private.create_range_partition('public.paper_trades', 'paper_trades_' || to_char(m, 'YYYY_MM'),
                                      'created_at', to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                                      to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00') THEN
      created := created + 1;
    END IF;
    q := date_trunc('quarter', m)::date;
    IF private.create_range_partition('public.account_analytics',
                                      'account_analytics_' || to_char(q, 'YYYY') || '_q' || to_char(q, 'Q'),
                                      'analytics_date', to_char(q, 'YYYY-MM-DD'),
                                      to_char(q + interval '3 months', 'YYYY-MM-DD')) THEN
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END
$$;
REVOKE EXECUTE ON FUNCTION public.create_partitions_ahead(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.create_partitions_ahead(integer) TO service_role;

SELECT public.create_partitions_ahead(3);
