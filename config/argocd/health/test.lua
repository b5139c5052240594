-- Runs health.lua against sample ServerlessApp statuses, and application.lua against sample
-- Application statuses, with Lua 5.1 (Argo CD's dialect).
-- Usage: lua5.1 test.lua  (from this directory). Exits non-zero if any case fails.
local checks = { ServerlessApp = assert(loadfile("health.lua")),
                 Application = assert(loadfile("application.lua")) }

local function condition(type_, status, reason, message)
  return { type = type_, status = status, reason = reason, message = message }
end

local cases = {
  { name = "no status yet", expect = "Progressing",
    obj = { metadata = { generation = 1 } } },
  { name = "ready", expect = "Healthy",
    obj = { metadata = { generation = 2 }, status = { observedGeneration = 2, conditions = {
      condition("Ready", "True", "Ready", "all components are available"),
      condition("Reconciling", "False", "Idle", ""),
      condition("Stalled", "False", "Healthy", "") } } } },
  { name = "workers scaled to zero are healthy", expect = "Healthy",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, master = "1/1", workers = "2/2",
      components = { { name = "resize", state = "ScaledToZero" } }, conditions = {
      condition("Ready", "True", "Ready", "all components are available") } } } },
  { name = "rolling out", expect = "Progressing", message = "master: 1/2 replicas available, 1 updated",
    obj = { metadata = { generation = 3 }, status = { observedGeneration = 3, conditions = {
      condition("Ready", "False", "Progressing", "master: 1/2 replicas available, 1 updated"),
      condition("Reconciling", "True", "Progressing", "master: 1/2 replicas available, 1 updated"),
      condition("Stalled", "False", "Healthy", "") } } } },
  { name = "new generation not yet observed", expect = "Progressing",
    message = "Waiting for the operator to observe generation 5",
    obj = { metadata = { generation = 5 }, status = { observedGeneration = 4, conditions = {
      condition("Ready", "True", "Ready", "all components are available") } } } },
  { name = "KEDA missing", expect = "Degraded",
    message = "KedaNotInstalled: CRD scaledobjects.keda.sh not installed",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = {
      condition("Ready", "False", "KedaNotInstalled", "CRD scaledobjects.keda.sh not installed"),
      condition("Stalled", "True", "KedaNotInstalled", "CRD scaledobjects.keda.sh not installed") } } } },
  { name = "child refused by admission", expect = "Degraded",
    obj = { metadata = { generation = 2 }, status = { observedGeneration = 2, conditions = {
      condition("Ready", "False", "ApplyFailed", "applying Deployment shop: denied"),
      condition("Stalled", "True", "ApplyFailed", "applying Deployment shop: denied") } } } },
  { kind = "Application", name = "Application not assessed yet", expect = "Progressing",
    obj = { metadata = { name = "serverless-operator" } } },
  { kind = "Application", name = "Application missing before its first sync", expect = "Progressing",
    obj = { status = { health = { status = "Missing" }, sync = { status = "OutOfSync" } } } },
  { kind = "Application", name = "Application healthy over nothing yet", expect = "Progressing",
    obj = { status = { health = { status = "Healthy" }, sync = { status = "OutOfSync" } } } },
  { kind = "Application", name = "Application synced and healthy", expect = "Healthy",
    obj = { status = { health = { status = "Healthy" }, sync = { status = "Synced" } } } },
  { kind = "Application", name = "Application degraded", expect = "Degraded", message = "1 app Stalled",
    obj = { status = { health = { status = "Degraded", message = "1 app Stalled" },
      sync = { status = "Synced" } } } },
}

local failures = 0
for _, case in ipairs(cases) do
  local env = { obj = case.obj, ipairs = ipairs, pairs = pairs, tostring = tostring }
  local check = checks[case.kind or "ServerlessApp"]
  setfenv(check, env)
  local hs = check()
  local ok = hs.status == case.expect and (case.message == nil or hs.message == case.message)
  if ok then
    print("ok   " .. case.name .. ": " .. hs.status)
  else
    failures = failures + 1
    print("FAIL " .. case.name .. ": got " .. tostring(hs.status) .. " (" .. tostring(hs.message) ..
      "), want " .. case.expect .. (case.message and (" (" .. case.message .. ")") or ""))
  end
end
print(string.format("%d passed, %d failed", #cases - failures, failures))
if failures > 0 then os.exit(1) end
