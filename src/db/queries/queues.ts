/** Statements on `tandem.queues`. */

export const queuePause = `
insert into tandem.queues (name, paused, paused_at) values ($1, true, now())
on conflict (name) do update set paused = true, paused_at = now()`;

export const queueResume = `
insert into tandem.queues (name, paused, paused_at) values ($1, false, null)
on conflict (name) do update set paused = false, paused_at = null`;

export const queueList = `
select q.name, coalesce(p.paused, false) as paused, p.paused_at,
       count(*) filter (where t.state = 'queued')    as queued,
       count(*) filter (where t.state = 'running')   as running,
       count(*) filter (where t.state = 'retrying')  as retrying
  from (select distinct queue as name from tandem.tasks where state in ('queued', 'running', 'retrying')
        union select name from tandem.queues) q
  left join tandem.queues p on p.name = q.name
  left join tandem.tasks t on t.queue = q.name and t.state in ('queued', 'running', 'retrying')
 group by q.name, p.paused, p.paused_at
 order by q.name`;
