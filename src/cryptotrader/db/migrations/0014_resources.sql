-- Template ratings: one rating (1 to 5) per user and template. account_templates.rating is
-- their average and rating_count their number, both kept by the database; users never
-- write either, nor the ratings table itself: they rate through rate_template().

ALTER TABLE account_templates ADD COLUMN rating_count INTEGER NOT NULL DEFAULT 0
  CONSTRAINT account_templates_rating_count_nonnegative CHECK (rating_count >= 0);

CREATE TABLE template_ratings (
  template_id UUID NOT NULL REFERENCES account_templates(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  rating INTEGER NOT NULL CONSTRAINT template_ratings_rating_range CHECK (rating BETWEEN 1 AND 5),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (template_id, user_id)
);
CREATE INDEX template_ratings_user_id_idx ON template_ratings (user_id);
-- Owners read their ratings; writes go through rate_template() only.
SELECT private.own_rows('template_ratings', ARRAY['select']);
CREATE TRIGGER template_ratings_set_updated_at BEFORE UPDATE ON template_ratings
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();

-- The template's average and count, recomputed from its ratings on every change (a rating,
-- a re-rating, or ratings cascading away with their user).
CREATE FUNCTION private.refresh_template_rating() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  tid uuid := CASE TG_OP WHEN 'DELETE' THEN OLD.template_id ELSE NEW.template_id END;
BEGIN
  UPDATE public.account_templates t
     SET rating = coalesce(s.average, 0), rating_count = s.n
    FROM (SELECT round(avg(r.rating), 2) AS average, count(*)::integer AS n
            FROM public.template_ratings r
           WHERE r.template_id = tid) s
   WHERE t.id = tid;
  RETURN NULL;
END
$$;
CREATE TRIGGER template_ratings_refresh AFTER INSERT OR UPDATE OR DELETE ON template_ratings
  FOR EACH ROW EXECUTE FUNCTION private.refresh_template_rating();

-- rate_template(template_id, rating): the caller's rating of a template they can see (a
-- public one, built-in or another user's). Rating again replaces the earlier rating. A
-- template the caller cannot see is reported exactly like a missing one; the creator may
-- not rate their own template (it would only inflate it). The template row is locked first,
-- so concurrent ratings each see the others when the average is recomputed.
CREATE FUNCTION public.rate_template(p_template_id uuid, p_rating integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  caller uuid := auth.uid();
  creator uuid;
BEGIN
  IF caller IS NULL THEN
    RAISE EXCEPTION 'sign in first' USING ERRCODE = 'CT401', HINT = 'not_authenticated';
  END IF;
  IF p_rating IS NULL OR p_rating NOT BETWEEN 1 AND 5 THEN
    RAISE EXCEPTION 'a rating is a whole number from 1 to 5'
      USING ERRCODE = 'CT422', HINT = 'invalid_rating';
  END IF;
  SELECT t.created_by INTO creator FROM public.account_templates t
   WHERE t.id = p_template_id AND (t.is_public OR t.created_by = caller)
     FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account template % not found', p_template_id
      USING ERRCODE = 'CT404', HINT = 'template_not_found';
  END IF;
  IF creator = caller THEN
    RAISE EXCEPTION 'you cannot rate your own template'
      USING ERRCODE = 'CT403', HINT = 'own_template_rating';
  END IF;
  INSERT INTO public.template_ratings (template_id, user_id, rating)
  VALUES (p_template_id, caller, p_rating)
  ON CONFLICT (template_id, user_id) DO UPDATE SET rating = EXCLUDED.rating
  WHERE public.template_ratings.rating IS DISTINCT FROM EXCLUDED.rating;
END
$$;
REVOKE EXECUTE ON FUNCTION public.rate_template(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.rate_template(uuid, integer) TO authenticated, service_role;
