-- The market feed's state, written by whichever worker holds the feed's advisory lock
-- (one leader across all processes). Read by the API's status and metrics.
CREATE TABLE market_feed_status (
  feed TEXT PRIMARY KEY DEFAULT 'market',
  leader TEXT NOT NULL,
  provider TEXT NOT NULL,
  leader_since TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  last_refresh_at TIMESTAMPTZ,
  last_success_at TIMESTAMPTZ,
  last_error TEXT,
  refresh_count BIGINT NOT NULL DEFAULT 0,
  error_count BIGINT NOT NULL DEFAULT 0,
  symbols_updated INTEGER NOT NULL DEFAULT 0,
  orders_processed BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
SELECT private.public_rows('market_feed_status');
CREATE TRIGGER market_feed_status_set_updated_at BEFORE UPDATE ON market_feed_status
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();
