-- The flow claim and the triggers that keep limit counts keep the plans
-- PL/pgSQL caches for their statements. A worker's own connection plans
-- every statement afresh (plan_cache_mode = force_custom_plan, so that its
-- settle-and-claim never runs a generic plan made while the table was
-- small); these functions run several short statements per task claimed by
-- key, and planning each of them every time halved the rate of a keyed
-- drain (5,000 to 2,700 tasks/s over 100 keys). A SET clause on a function
-- holds while it runs, for what it calls too.
alter function tandem.claim_flow(text, bigint, text, integer, integer, text[])
  set plan_cache_mode = auto;
alter function tandem.claim_flow_concurrency(text, bigint, text, integer, integer, text[])
  set plan_cache_mode = auto;
alter function tandem.flow_release() set plan_cache_mode = auto;
alter function tandem.flow_key_waiting() set plan_cache_mode = auto;
