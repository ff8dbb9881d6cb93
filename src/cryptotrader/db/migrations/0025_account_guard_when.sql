-- The account guard leaves fills alone (issue 11: speed that helps every order).
--
-- private.guard_account_write() (0002) ran on every UPDATE of paper_trading_accounts, so
-- on every fill's balance update, though on UPDATE it only refuses a change into or out of
-- 'suspended' by an untrusted caller. The trigger is split: on INSERT as before, and on
-- UPDATE behind a WHEN clause that PostgreSQL evaluates without calling the function
-- (an INSERT trigger's WHEN may not mention OLD, hence two triggers). Same rules, same
-- order among the BEFORE triggers (they fire in name order: archive_is_final, guard,
-- guard_suspension, one_default).

DROP TRIGGER paper_trading_accounts_guard ON public.paper_trading_accounts;

CREATE TRIGGER paper_trading_accounts_guard BEFORE INSERT ON public.paper_trading_accounts
  FOR EACH ROW EXECUTE FUNCTION private.guard_account_write();

CREATE TRIGGER paper_trading_accounts_guard_suspension BEFORE UPDATE ON public.paper_trading_accounts
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     AND 'suspended' IN (OLD.status, NEW.status))
  EXECUTE FUNCTION private.guard_account_write();
