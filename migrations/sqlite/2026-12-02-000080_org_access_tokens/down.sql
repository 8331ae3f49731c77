DROP TABLE org_access_tokens;
