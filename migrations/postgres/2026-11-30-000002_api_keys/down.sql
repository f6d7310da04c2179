DROP TABLE api_key_bootstrap;
DROP TABLE api_keys;
