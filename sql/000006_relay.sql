-- The outbox relay: messages published inside a business transaction wait
-- here until a relay process has had them confirmed by their broker, then
-- the relay deletes them (the broker keeps the message from then on).
-- A table of its own rather than tasks of a reserved name: a message has an
-- ordering key, not an idempotency key (many messages share `order:123`),
-- nothing claims it but the one relay that holds its destination's lock, and
-- publishing it is a delete, not an update plus a later prune. Measured in
-- docs/relay.md ("Why a table of its own").

-- fillfactor 100 (the default): rows are inserted once and deleted once;
-- only the head of a stuck destination is ever updated (attempts, error).
create table tandem.outbox (
  id          bigint generated always as identity primary key,
  -- Which defineDestination() it was published to.
  destination tandem.label not null,
  -- The ordering key (`order:123`): published in id order per destination.
  key         text,
  -- Routing key, subject or stream computed at publish time; null: the destination's own.
  route       text,
  -- The message body exactly as the relay sends it: json keeps the text as
  -- written (no jsonb parse on insert, none on the way out).
  payload     json not null,
  -- String headers (user headers, traceparent), or null.
  headers     json,
  created_at  timestamptz not null default now(),
  -- Failed publish attempts of this message (it is at its destination's head).
  attempts    integer not null default 0,
  last_error  text,
  last_attempt_at timestamptz
);

-- The relay's read: the oldest messages of one destination, in id order.
create index outbox_destination_idx on tandem.outbox (destination, id);

-- The insert behind the TypeScript publish (which has validated everything):
-- returns the new id and, when `wake` is true, wakes the destination's relay
-- at commit (the caller debounces). PL/pgSQL keeps the statement's plan for
-- the session, whichever driver or query builder the caller uses.
create function tandem.insert_message(
  destination text, key text, route text, payload json, headers json, wake boolean
) returns bigint
language plpgsql
as $$
#variable_conflict use_column
declare
  message_id bigint;
begin
  insert into tandem.outbox as o (destination, key, route, payload, headers)
  values (insert_message.destination, insert_message.key, insert_message.route,
          insert_message.payload, insert_message.headers)
  returning o.id into message_id;
  if wake then
    perform pg_notify('tandem_relay', insert_message.destination);
  end if;
  return message_id;
end;
$$;

-- SQL publish, in the caller's transaction (a trigger, psql, another
-- language): the same rules as TypeScript for the destination name, the key
-- and the route; headers must be a JSON object of strings. The payload's
-- schema is the destination's TypeScript definition's business: the relay
-- publishes what is here. Wakes the relay at commit, at most once per
-- destination per 2 ms per session.
create function tandem.publish(
  destination text,
  payload json,
  key text default null,
  headers json default null,
  route text default null
) returns bigint
language plpgsql
as $$
#variable_conflict use_column
declare
  message_id bigint;
  last_notify text;
begin
  if publish.destination is null or publish.payload is null then
    raise exception 'tandem.publish: destination and payload are required'
      using errcode = '22004';
  end if;
  if publish.destination !~ '^[A-Za-z0-9_.:/-]{1,200}$' then
    raise exception 'tandem.publish: destination must be 1-200 characters of letters, digits and _ . : - /, got %', quote_literal(publish.destination)
      using errcode = '22023';
  end if;
  if publish.key is not null and length(publish.key) not between 1 and 500 then
    raise exception 'tandem.publish: key must be 1-500 characters, got % characters', length(publish.key)
      using errcode = '22023';
  end if;
  if publish.route is not null and length(publish.route) not between 1 and 255 then
    raise exception 'tandem.publish: route must be 1-255 characters, got % characters', length(publish.route)
      using errcode = '22023';
  end if;
  if publish.headers is not null and (json_typeof(publish.headers) <> 'object'
      or exists (select 1 from json_each(publish.headers) h where json_typeof(h.value) <> 'string')) then
    raise exception 'tandem.publish: headers must be a JSON object of string values, got %', publish.headers
      using errcode = '22023';
  end if;
  message_id := tandem.insert_message(
    publish.destination, publish.key, publish.route, publish.payload, publish.headers, false);
  last_notify := current_setting('tandem.relay_notified_' || md5(publish.destination), true);
  if last_notify is null or last_notify = ''
     or clock_timestamp() - last_notify::timestamptz > interval '2 milliseconds' then
    perform pg_notify('tandem_relay', publish.destination);
    perform set_config('tandem.relay_notified_' || md5(publish.destination), clock_timestamp()::text, false);
  end if;
  return message_id;
end;
$$;

-- Every destination a relay has served, with the lock that makes its relay
-- one at a time (pg_try_advisory_lock(1953655929, lock_id), held on the
-- relay's own connection while it publishes) and what that relay reported:
-- who holds it since when, how many messages it has had confirmed, and when
-- it last published. An id of its own per destination, not a hash of the
-- name, so two destinations never share a lock.
create table tandem.relays (
  destination  tandem.label primary key,
  lock_id      integer generated always as identity unique,
  holder       text,
  held_since   timestamptz,
  published    bigint not null default 0,
  published_at timestamptz
);

-- The prefix of every message id this database publishes: message 42 goes
-- out as `<prefix>-42`. Random per database (made here), so that two
-- databases publishing to one stream never share an id within the broker's
-- duplicate window. Set your own, before the first message, with
--   update tandem.outbox_source set prefix = 'orders-service';
create table tandem.outbox_source (
  one    boolean primary key default true check (one),
  prefix text not null check (prefix ~ '^[A-Za-z0-9_.:-]{1,64}$')
);
insert into tandem.outbox_source (prefix)
values ('tnd' || substr(md5(random()::text || clock_timestamp()::text), 1, 10));
