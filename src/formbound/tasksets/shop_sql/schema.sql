-- A small online shop: customers place orders; each order has lines (order_items) for products,
-- and every product belongs to one category. Dates are ISO 8601 text (YYYY-MM-DD); money is in euros.

CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE                 -- e.g. 'Books', 'Kitchen'
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,                       -- full name
    email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    country TEXT NOT NULL,                    -- English country name, e.g. 'Germany'
    joined_on TEXT NOT NULL                   -- date the account was created, YYYY-MM-DD
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    price REAL NOT NULL,                      -- current list price in euros
    stock INTEGER NOT NULL                    -- units in the warehouse; 0 means out of stock
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    order_date TEXT NOT NULL,                 -- YYYY-MM-DD
    status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled'))
);

CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,                 -- price paid per unit in this order
    PRIMARY KEY (order_id, product_id)
);
