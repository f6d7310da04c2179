-- wrk: POST /orders with API.md's body and a second item.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customer_name": "Ada Lovelace", "customer_email": "ada@example.com", "currency": "EUR", '
    .. '"items": [{"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250}, '
    .. '{"sku": "PEN-7", "quantity": 1, "unit_price_cents": 949}]}'
