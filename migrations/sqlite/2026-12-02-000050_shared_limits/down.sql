DROP TABLE rate_windows;
DROP TABLE throttle_reservations;
DROP TABLE throttle_ip_failures;
DROP TABLE throttle_accounts;
