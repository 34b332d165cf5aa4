-- quota.forecast (ours: upstream has no forecast for a windowed quota): [spendableNow,
-- Generated from parts/quota.forecast.lua and parts/quota.period.lua (go test ./luascripts -run
-- TestComposed -update); edit those.
-- nextReplenishAt, fullAt] for requests of `cost`, without writing. The budget only grows back
-- at the period's end, so both instants are that boundary.
-- KEYS[1] state key (HASH, see quota.check). ARGV: now (0 = Redis clock), limit, cost, mode,
-- periodMs, anchor, offsetMs, weekStartsOn.
-- quota period: begin (parts/quota.period.lua, composed into quota.check, quota.peek and
-- quota.forecast); it maps an instant to its period [start, reset) as quota.md section 2 says.
local DAY = 86400000

-- Floor division and the floored remainder. Both operands are integers below 2^53, where a
-- double quotient floors to the exact integer quotient.
local function fdiv(a, b) return math.floor(a / b) end
local function fmod(a, b) return a - fdiv(a, b) * b end

-- Days since 1970-01-01 of the proleptic Gregorian date y-m-d (Hinnant's days_from_civil),
-- counting years from 1 March so that the leap day closes the year. With floor division the
-- era needs no adjustment for negative years.
local function daysFromCivil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = fdiv(y, 400)
  local yoe = y - 400 * era
  local mi = m - 3
  if m <= 2 then mi = m + 9 end
  local doy = fdiv(153 * mi + 2, 5) + d - 1
  local doe = 365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100) + doy
  return 146097 * era + doe - 719468
end

-- The civil year and month holding day z (Hinnant's civil_from_days, without the day).
local function civilFromDays(z)
  z = z + 719468
  local era = fdiv(z, 146097)
  local doe = z - 146097 * era
  local yoe = fdiv(doe - fdiv(doe, 1460) + fdiv(doe, 36524) - fdiv(doe, 146096), 365)
  local y = yoe + 400 * era
  local doy = doe - (365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100))
  local mp = fdiv(5 * doy + 2, 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m
end

-- The period holding now: mode 4 is a fixed window of periodMs from anchor; 1, 2 and 3 are
-- the calendar month, week and day at the fixed offset offsetMs (any other mode reads as a
-- month, as upstream's script does).
local function periodOf(now, mode, periodMs, anchor, offsetMs, weekStartsOn)
  if mode == 4 then
    local start = anchor + fdiv(now - anchor, periodMs) * periodMs
    return start, start + periodMs
  end
  local day = fdiv(now + offsetMs, DAY)
  local first, after
  if mode == 3 then
    first, after = day, day + 1
  elseif mode == 2 then
    local dow = fmod(day + 4, 7) -- 0 = Sunday: 1970-01-01 was a Thursday
    first = day - fmod(dow - weekStartsOn, 7)
    after = first + 7
  else
    local y, m = civilFromDays(day)
    first = daysFromCivil(y, m, 1)
    if m == 12 then y, m = y + 1, 1 else m = m + 1 end
    after = daysFromCivil(y, m, 1)
  end
  return first * DAY - offsetMs, after * DAY - offsetMs
end
-- quota period: end

local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start, reset = periodOf(now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]))

local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and state[2] and tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end

local avail = math.max(0, limit - count)
local boundary = math.ceil(reset)
return {math.floor(avail / cost), boundary, boundary}
