-- cfrec 0.1.0 → 0.2.0: cf_drop_model.
\echo Use "ALTER EXTENSION cfrec UPDATE TO '0.2.0'" to load this file. \quit

-- ---- Dropping a model ----
-- Deletes a model and all its rows; row-level security lets only its owner
-- (or a member, or a superuser) do it.
CREATE FUNCTION cf_drop_model(model text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    target_id bigint;
BEGIN
    SELECT m.id INTO target_id FROM cfrec.models m WHERE m.name = model;
    IF target_id IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM cf_models lists the trained models.';
    END IF;
    DELETE FROM cfrec.model_users u WHERE u.model_id = target_id;
    DELETE FROM cfrec.model_items i WHERE i.model_id = target_id;
    DELETE FROM cfrec.model_tensors t WHERE t.model_id = target_id;
    DELETE FROM cfrec.lr_sweeps s WHERE s.model_id = target_id;
    DELETE FROM cfrec.training_log l WHERE l.model_id = target_id;
    DELETE FROM cfrec.models m WHERE m.id = target_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" belongs to another role', model
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only its owner, a member of that role or a superuser may drop it.';
    END IF;
    RETURN true;
END
$$;
