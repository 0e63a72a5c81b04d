/** Statements of the shared `waitFor` poll (src/client/wait-for.ts). */

/** Which of the ids $1 exist, and whether each is finished. */
export const taskStatesOf = `
select id::text as id, state in ('succeeded', 'failed', 'cancelled') as done
  from tandem.tasks where id = any($1::bigint[])`;

export const taskGetMany = 'select * from tandem.tasks where id = any($1::bigint[])';
