//! The orders domain with no database: place orders, list them, move one
//! through its lifecycle and send the confirmation emails from the outbox,
//! all in memory.
//!
//!     cargo run -p domain --example in_memory

use std::sync::Arc;
use std::time::Duration;

use domain::memory::InMemoryStore;
use domain::{
    BoxError, Cause, Currency, CustomerEmail, CustomerName, EmailOutbox as _, ListQuery, NewOrder, NewOrderLine, Order,
    OrderLines, OrderService, OrderStatus, PageSize, Placed, Quantity, Sku, Timestamp, UnitPrice,
};

fn new_order(name: &str, email: &str, sku: &str, quantity: i64, cents: i64) -> Result<NewOrder, BoxError> {
    let line = NewOrderLine {
        sku: Sku::parse(sku)?,
        quantity: Quantity::parse(quantity)?,
        unit_price: UnitPrice::parse(cents)?,
    };
    Ok(NewOrder::new(
        CustomerName::parse(name)?,
        CustomerEmail::parse(email)?,
        Currency::parse("EUR")?,
        OrderLines::parse(vec![line])?,
    )?)
}

/// What the caller answers a create with; an HTTP service would write JSON.
fn summary(order: &Order) -> Result<String, BoxError> {
    Ok(format!("order {} for {} cents", order.id(), order.total().cents()))
}

fn main() -> Result<(), BoxError> {
    futures_executor::block_on(async {
        let store = Arc::new(InMemoryStore::default());
        let orders = OrderService::new(store.clone());

        for (name, email, sku, quantity, cents) in [
            ("Ada Lovelace", "ada@example.com", "BOOK-001", 2, 1250),
            ("Alan Turing", "alan@example.com", "PEN-7", 3, 199),
        ] {
            if let Placed::Created(answer) =
                orders.place(new_order(name, email, sku, quantity, cents)?, None, Cause::default(), summary).await?
            {
                println!("placed:  {}", answer.body);
            }
        }

        let page = orders.list(&ListQuery::first_page(PageSize::DEFAULT)).await?;
        for order in &page.items {
            println!("listed:  {} {} {} {}", order.id(), order.customer_name(), order.status(), order.total().cents());
        }

        let id = page.items[0].id();
        for to in [OrderStatus::Processing, OrderStatus::Shipped, OrderStatus::Delivered] {
            let order = orders.change_status(id, to, None, Cause::default()).await?;
            println!("moved:   {id} to {} (version {})", order.status(), order.version());
        }
        if let Err(refused) = orders.change_status(id, OrderStatus::Cancelled, None, Cause::default()).await {
            println!("refused: {refused}");
        }

        // A dispatcher's side of the outbox: claim what is due, send, record.
        let claimed = store.claim_due(Timestamp::now(), 10, Duration::from_secs(60)).await?;
        for email in &claimed {
            println!("email:   to {}: {}", email.message.recipient, email.message.subject);
        }
        store.record_sent(&claimed, Timestamp::now()).await?;
        let order = orders.get(id).await?;
        println!("email of {id}: {}", order.confirmation_email().state);

        // Every change was recorded as an event, in the same step as the change.
        for event in orders.events(id).await? {
            println!("event:   {} {}", event.occurred_at, event.payload);
        }
        Ok(())
    })
}
