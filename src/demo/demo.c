/* placeholder: being written */
#include <stddef.h>
typedef int mqttids_placeholder_demo;
