/** Statements on `tandem.schedules`: the last fired tick of each cron schedule. */

export const scheduleGet = `select name, last_tick from tandem.schedules where name = any($1::text[])`;

export const scheduleAdvance = `
insert into tandem.schedules (name, last_tick) values ($1, $2)
on conflict (name) do update set last_tick = greatest(tandem.schedules.last_tick, excluded.last_tick), updated_at = now()`;

export const scheduleGetForUpdate = `select name, last_tick from tandem.schedules where name = any($1::text[]) for update`;

/** Tandem's cron lock, for the firing transaction: one worker fires at a time. */
export const scheduleLock = `select pg_try_advisory_xact_lock(1952542308, 0) as ok`;
