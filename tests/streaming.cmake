# Streamed answers and real models in a cluster (issue 15, node/protocol half).
# Codec level: the order check of parts and the StreamPart decoder.
wp_add_test(NAME test_stream SOURCES unit/test_stream.c LIBS wp_gossip wp_proto LABELS unit)
