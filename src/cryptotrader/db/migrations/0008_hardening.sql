-- Hardening after the RLS review (docs/schema.md).

-- A deleted user's templates go with them: with SET NULL they would look like built-in
-- templates, and one named like a built-in broke the user's deletion (unique name).
-- Accounts made from them keep existing (their template_id is set null).
ALTER TABLE account_templates DROP CONSTRAINT account_templates_created_by_fkey;
ALTER TABLE account_templates ADD CONSTRAINT account_templates_created_by_fkey
  FOREIGN KEY (created_by) REFERENCES profiles(id) ON DELETE CASCADE;

-- Users write only the descriptive columns of their templates; usage_count and rating
-- are the system's.
REVOKE INSERT ON account_templates FROM authenticated;
GRANT INSERT (name, description, account_type, risk_level, initial_balance, max_daily_loss,
              max_position_size, trading_strategy, color_theme, icon, tags, is_public, created_by)
  ON account_templates TO authenticated;

-- A maker rebate set by the user would be free money in a paper account: fees are >= 0.
ALTER TABLE paper_trading_accounts DROP CONSTRAINT paper_trading_accounts_fee_range;
ALTER TABLE paper_trading_accounts ADD CONSTRAINT paper_trading_accounts_fee_range
  CHECK (taker_fee_rate BETWEEN 0 AND 0.05 AND maker_fee_rate BETWEEN 0 AND 0.05);
