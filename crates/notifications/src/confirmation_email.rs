//! The confirmation email written from templates: a plain-text part and an
//! HTML part, both from `templates/`, checked and compiled with this crate.

use askama::Template;
use domain::{BoxError, EmailFormat, EmailMessage, Order};

/// One line of the order, its amounts as the customer reads them.
struct Line<'a> {
    sku: &'a str,
    quantity: i64,
    unit_price: String,
    line_total: String,
}

/// What both parts say. Every value is escaped in the HTML part (askama
/// escapes whatever a `.html` template prints), and printed as it is in the
/// text part.
struct Confirmation<'a> {
    name: &'a str,
    reference: String,
    id: String,
    lines: Vec<Line<'a>>,
    total: String,
}

#[derive(Template)]
#[template(path = "confirmation.txt")]
struct TextPart<'a> {
    c: &'a Confirmation<'a>,
}

#[derive(Template)]
#[template(path = "confirmation.html")]
struct HtmlPart<'a> {
    c: &'a Confirmation<'a>,
}

/// Writes the confirmation email with a text and an HTML part.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailTemplates;

impl EmailFormat for EmailTemplates {
    fn confirmation(&self, order: &Order) -> Result<EmailMessage, BoxError> {
        let currency = order.currency();
        let confirmation = Confirmation {
            name: order.customer_name().as_str(),
            reference: order.id().reference(),
            id: order.id().to_string(),
            lines: order
                .lines()
                .iter()
                .map(|line| Line {
                    sku: line.sku.as_str(),
                    quantity: line.quantity.get(),
                    unit_price: currency.format(line.unit_price),
                    line_total: currency.format(line.line_total),
                })
                .collect(),
            total: currency.format(order.total()),
        };
        let text = TextPart { c: &confirmation }.render()?;
        let html = HtmlPart { c: &confirmation }.render()?;
        Ok(EmailMessage::confirmation_with(order, text, Some(html)))
    }
}

#[cfg(test)]
mod tests {
    use domain::{
        Currency, CustomerEmail, CustomerName, NewOrder, NewOrderLine, OrderId, OrderLines, Quantity, Sku, Timestamp,
        UnitPrice,
    };

    use super::*;

    fn order(name: &str, currency: &str) -> Order {
        let line = |sku: &str, quantity: i64, cents: i64| NewOrderLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit_price: UnitPrice::parse(cents).unwrap(),
        };
        let new = NewOrder::new(
            CustomerName::parse(name).unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse(currency).unwrap(),
            OrderLines::parse(vec![line("BOOK-001", 2, 1250), line("PEN-7", 1, 199)]).unwrap(),
        )
        .unwrap();
        Order::place(new, OrderId::generate(), Timestamp::now())
    }

    #[test]
    fn both_parts_name_the_order_each_line_and_the_total() {
        let order = order("Ada Lovelace", "KWD");
        let email = EmailTemplates.confirmation(&order).unwrap();
        let html = email.html.as_deref().unwrap();
        let reference = order.id().reference();
        assert_eq!(email.subject, format!("Order {reference} confirmed"));
        assert_eq!(email.written_at, order.created_at());
        for part in [email.body.as_str(), html] {
            for expected in
                ["Ada Lovelace", &reference, &order.id().to_string(), "BOOK-001", "1.250 KWD", "2.500 KWD", "2.699 KWD"]
            {
                assert!(part.contains(expected), "{expected:?} not in\n{part}");
            }
        }
        assert!(email.body.contains("  2 x BOOK-001 at 1.250 KWD = 2.500 KWD\n  1 x PEN-7 at 0.199 KWD = 0.199 KWD\n"));
        assert!(email.body.contains("\nTotal: 2.699 KWD\n"), "{}", email.body);
    }

    #[test]
    fn customer_text_is_escaped_in_html_and_verbatim_in_text() {
        let name = "<img src=x onerror=alert(1)> & \"Bob\"";
        let email = EmailTemplates.confirmation(&order(name, "EUR")).unwrap();
        let html = email.html.unwrap();
        assert!(email.body.contains(&format!("Hello {name},")), "{}", email.body);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&#60;img src=x onerror=alert(1)&#62; &#38; &#34;Bob&#34;"), "{html}");
    }
}
