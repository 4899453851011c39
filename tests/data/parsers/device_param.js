/* A calibration offset kept as the device's configuration parameter "offset", and the device's
** "site" tag stored with the reading. */
const offset_param = device.params.find((param) => param.key === "offset");
const offset = offset_param ? Number(offset_param.value) : 0;
const site = (device.tags.find((tag) => tag.key === "site") || {}).value;
const temperature = payload.find((x) => x.variable === "temperature");
if (temperature) {
  payload.push({ variable: "temperature_calibrated", value: temperature.value + offset, unit: temperature.unit });
  payload.push({ variable: "site", value: site });
}
