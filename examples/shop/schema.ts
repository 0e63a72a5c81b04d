/**
 * The shop's own tables. A payment's `order_id` is UNIQUE: even if a charge
 * ran twice, the second insert would fail, so an order is never charged twice.
 */
import { type Generated, type Kysely, sql } from 'kysely';

export interface ShopDatabase {
  shop_orders: {
    id: Generated<string>;
    customer: string;
    cents: number;
    created_at: Generated<Date>;
  };
  shop_payments: {
    id: Generated<string>;
    order_id: string;
    cents: number;
    charged_at: Generated<Date>;
  };
}

/** Creates the shop tables if they do not exist yet. */
export async function createShopSchema(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('shop_orders')
    .ifNotExists()
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('customer', 'text', (c) => c.notNull())
    .addColumn('cents', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('shop_payments')
    .ifNotExists()
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('order_id', 'bigint', (c) => c.notNull().unique().references('shop_orders.id'))
    .addColumn('cents', 'integer', (c) => c.notNull())
    .addColumn('charged_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}
