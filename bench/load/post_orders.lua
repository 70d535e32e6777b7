-- wrk script: POST /orders with a JSON body of all 30 fields of the pydantic model Order
-- (bench/apps/api_models.py), none of them null (fastrapi 0.2.11 rejects an explicit JSON
-- null for an Optional field). run.py reads the body from the wrk.body line below, so the
-- probe request and the expected answer (the same object) always match what wrk sends.
wrk.method = "POST"
wrk.body = '{"order_id":1001,"customer_id":42,"customer_name":"Alice Martin","customer_email":"alice@example.com","status":"paid","currency":"EUR","created_at":"2024-05-01T12:30:00","updated_at":"2024-05-01T12:45:00","subtotal":89.9,"tax":17.98,"shipping_cost":4.5,"discount":0.0,"total":112.38,"item_count":3,"skus":["SKU-1001","SKU-1002","SKU-1003"],"tags":["spring-sale","vip"],"shipping_address":{"street":"12 Rue de la Paix","city":"Paris","zip_code":"75002","country":"FR"},"billing_address":{"street":"3 Avenue Foch","city":"Lyon","zip_code":"69006","country":"FR"},"is_gift":true,"gift_message":"Happy birthday!","express":false,"paid":true,"payment_method":"card","coupon_code":"SPRING10","notes":"Leave at the front desk","priority":2,"weight_kg":1.25,"warehouse":"PAR-1","channel":"web","source_ip":"203.0.113.7"}'
wrk.headers["Content-Type"] = "application/json"
