# Cluster keys (issue 14): generation, files and their modes, signatures,
# keyrings, and clear errors for bad key files.
wp_add_test(NAME test_auth_keys SOURCES unit/test_auth_keys.c LIBS wp_auth LABELS unit)
