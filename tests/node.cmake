# The node's request path (node/): inference framing and decoders, the
# request table, and the live request-path integration tests.
wp_add_test(NAME test_infer_codec SOURCES unit/test_infer_codec.c
            LIBS wp_gossip wp_proto LABELS unit)
wp_add_test(NAME test_reqtab SOURCES unit/test_reqtab.c LIBS wp_gossip LABELS unit)
