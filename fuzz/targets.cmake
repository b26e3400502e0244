# fuzz/targets.cmake - the fuzz targets, shared by fuzz/ and fuzz/replay/.
# Target NAME is built from fuzz/fuzz_NAME.c, its corpus is fuzz/corpus/NAME/
# and its replay test is fuzz_replay_NAME. MQTTIDS_FUZZ_LIBS_NAME lists the
# libraries a target needs besides mqttids_core.
set(MQTTIDS_FUZZ_TARGETS
  mqtt_parse
  mqtt_stream
  tcp_reasm
  pcap_pipeline
  pcap_frames
  config
  scenario
  payload
  rules
  classification
  acl
  keys
  sensors
  inventory
  telemetry
)
set(MQTTIDS_FUZZ_LIBS_scenario mqttids_testbed)
set(MQTTIDS_FUZZ_LIBS_payload mqttids_testbed)
set(MQTTIDS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
