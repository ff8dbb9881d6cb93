-- Administrators manage the templates the platform offers (issue 12, admin).
--
-- Until now an administrator could read every template but write none that was not their
-- own: the platform's templates (no creator, created_by NULL) were the service's alone.
-- An admin (app_metadata.role = 'admin' in the claims) now creates the platform's
-- templates, edits them, and retires any template that is offered to everyone: the
-- platform's own or a user's shared one (is_public false: no new account can be opened
-- from it, the accounts opened from it stay). Deleting stays the creator's (history:
-- accounts keep their template_id). The column grants of 0002 and 0008 still apply:
-- usage_count, rating and created_by are never written by an API role.

CREATE POLICY "admins insert platform templates" ON public.account_templates
  FOR INSERT TO authenticated
  WITH CHECK ((SELECT auth.is_admin()) AND created_by IS NULL);

CREATE POLICY "admins update offered templates" ON public.account_templates
  FOR UPDATE TO authenticated
  USING ((SELECT auth.is_admin()) AND (created_by IS NULL OR is_public))
  WITH CHECK ((SELECT auth.is_admin()));
