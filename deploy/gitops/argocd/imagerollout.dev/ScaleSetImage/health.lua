-- Argo CD health check for imagerollout.dev/ScaleSetImage.
-- Laid out as in Argo CD's resource_customizations/<group>/<kind>/ (health.lua, health_test.yaml, testdata/);
-- install it with ../../argocd-cm.yaml. It reads the status the operator writes (kstatus conditions Ready,
-- Reconciling, Stalled, plus phase and observedGeneration):
--   no status yet, or status of an older generation  -> Progressing
--   Stalled=True or phase Failed                      -> Degraded (rollout stopped, rolled back or blocked)
--   phase Paused (spec.rollout.paused)                -> Suspended
--   Ready=True                                        -> Healthy
--   anything else (a rollout in flight)               -> Progressing
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}
local status = obj.status
if status == nil then
  return hs
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type ~= nil then
      conditions[condition.type] = condition
    end
  end
end

local function describe(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local ready = conditions["Ready"]
local stalled = conditions["Stalled"]
local reconciling = conditions["Reconciling"]

if (stalled ~= nil and stalled.status == "True") or status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(stalled, describe(ready, "The rollout failed"))
  return hs
end

if status.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Paused by spec.rollout.paused")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Every domain runs the target image")
  return hs
end

hs.message = describe(reconciling, describe(ready, "Rollout in progress"))
return hs
