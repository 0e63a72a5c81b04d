/**
 * Every statement on `tandem.outbox` and `tandem.relays` (sql/000006_relay.sql).
 * The relay's two hot statements run on its own connection, which holds the
 * destination's advisory lock, with synchronous_commit off: a delete lost in
 * a server crash publishes the message again (at-least-once; consumers
 * dedupe by the message id).
 */

/** Inserts one message: destination, key, route, payload, headers, wake. Yields the new id. */
export const outboxInsert = 'select tandem.insert_message($1, $2, $3, $4, $5, $6)::text as id';

/** Class id of the relays' advisory locks (`trly`); the object id is `tandem.relays.lock_id`. */
export const RELAY_LOCK_CLASS = 1_953_655_929;

/** The destination's lock id, registering it on first use. */
export const relayRegister = `
with ins as (
  insert into tandem.relays (destination) values ($1)
  on conflict (destination) do nothing
  returning lock_id
)
select lock_id from ins
union all
select lock_id from tandem.relays where destination = $1`;

/** Tries the destination's lock ($1 lock id) for this session; records the holder $3 when taken. */
export const relayLock = `
with got as (select pg_try_advisory_lock(${RELAY_LOCK_CLASS}, $1) as locked)
update tandem.relays r set holder = $3, held_since = now()
  from got where got.locked and r.destination = $2
returning got.locked`;

/** Releases the destination's lock ($1 lock id) and clears its holder if it is still this one ($3). */
export const relayUnlock = `
with released as (select pg_advisory_unlock(${RELAY_LOCK_CLASS}, $1) as ok)
update tandem.relays r set holder = null
  from released where r.destination = $2 and r.holder = $3
returning released.ok`;

/** The message id prefix of this database. */
export const outboxPrefix = 'select prefix from tandem.outbox_source';

/**
 * The relay's one statement per batch: deletes the messages of the last
 * batch that the broker confirmed ($2) and counts them on the destination,
 * then reads the next $3 messages of destination $1 in id order. The read
 * sees the table as it was before the delete (one snapshot for the whole
 * statement), hence `<> all($2)`.
 */
export const outboxTake = `
with done as (
  delete from tandem.outbox where id = any($2::bigint[]) returning 1
),
counted as (
  update tandem.relays set published = published + (select count(*) from done), published_at = now()
   where destination = $1 and cardinality($2::bigint[]) > 0
)
select o.id::text as id, o.key, o.route, o.payload::text as payload, o.headers::text as headers
  from tandem.outbox o
 where o.destination = $1 and o.id <> all($2::bigint[])
 order by o.id -- the column: a bare "id" would sort by the text alias
 limit $3`;

/**
 * Settles a batch that stopped at a failure: deletes the confirmed messages
 * before it ($2), and records the failed attempt ($4 error) on the message
 * where it stopped ($3), which stays at the head and is retried.
 */
export const outboxFail = `
with done as (
  delete from tandem.outbox where id = any($2::bigint[]) returning 1
),
counted as (
  update tandem.relays set published = published + (select count(*) from done), published_at = now()
   where destination = $1 and cardinality($2::bigint[]) > 0
)
update tandem.outbox set attempts = attempts + 1, last_error = $4, last_attempt_at = now()
 where id = $3`;

/** Deletes confirmed messages ($2) of destination $1: the last batch before a relay stops. */
export const outboxSettle = `
with done as (
  delete from tandem.outbox where id = any($2::bigint[]) returning 1
)
update tandem.relays set published = published + (select count(*) from done), published_at = now()
 where destination = $1 and exists (select 1 from done)`;

/**
 * Backlog per destination: count, oldest message, and the head's failed
 * attempts, with what the relays table knows (holder, published). The
 * destinations with messages are found by skipping through the destination
 * index (one probe per destination); the count walks a destination's index
 * entries; the oldest is its first.
 */
export const relayStatusRead = `
with recursive waiting(destination) as (
  (select destination from tandem.outbox order by destination limit 1)
  union all
  select (select o.destination from tandem.outbox o
           where o.destination > w.destination order by o.destination limit 1)
    from waiting w where w.destination is not null
),
names as (
  select destination from tandem.relays
  union
  select destination from waiting where destination is not null
),
backlog as (
  select n.destination,
         (select count(*) from tandem.outbox o where o.destination = n.destination) as backlog,
         h.id as head_id, h.created_at as oldest_at, h.attempts, h.last_error, h.last_attempt_at
    from names n
    left join lateral (
      select id, created_at, attempts, last_error, last_attempt_at from tandem.outbox o
       where o.destination = n.destination order by id limit 1
    ) h on true
)
select b.destination, b.backlog, b.head_id::text as head_id, b.oldest_at, b.attempts,
       b.last_error, b.last_attempt_at, r.holder, r.held_since, r.published, r.published_at,
       now() as now,
       (select prefix from tandem.outbox_source) as prefix
  from backlog b left join tandem.relays r on r.destination = b.destination
 order by b.destination`;
