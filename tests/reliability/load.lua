-- wrk script of tests/reliability/load.sh: a retail mix of 40% golden-record reads by id,
-- 20% searches by e-mail, 25% upserts (half new people, half updates of known ones) and
-- 15% matches. Environment: MDM_KEY (admin key), MDM_IDS (a Lua file returning the list
-- of entity ids), MDM_PEOPLE (people preloaded), MDM_SEED (per run).
local key = os.getenv("MDM_KEY")
local ids = dofile(os.getenv("MDM_IDS"))
local people = tonumber(os.getenv("MDM_PEOPLE"))
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
end

function init(args)
    math.randomseed(tonumber(os.getenv("MDM_SEED") or "1") * 100 + (tid or 0))
    wrk.headers["Authorization"] = "Bearer " .. key
end

-- the lists and the layout of rel_person in tests/reliability/lib.bash
local firsts = {"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul",
    "Emily", "Andrew", "Donna", "Joshua", "Michelle"}
local lasts = {"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes"}

local function first(n) return firsts[n % 40 + 1] end
local function last(n) return lasts[math.floor(n / 40) % 60 + 1] end

local function person(n, tier)
    return string.format('{"source_key": "L%d", "first_name": "%s", "last_name": "%s", ' ..
        '"emails": ["p%d@rel.example.com"], "phones": ["+1 212 %03d %04d"], ' ..
        '"birth_date": "19%02d-%02d-%02d", "attributes": {"tier": "t%d"}}',
        n, first(n), last(n), n, 200 + n % 700, n % 10000, 40 + n % 60, 1 + n % 12, 1 + n % 28, tier)
end

function request()
    local r = math.random(100)
    if r <= 40 then
        return wrk.format("GET", "/v1/entities/" .. ids[math.random(#ids)])
    elseif r <= 60 then
        return wrk.format("GET", "/v1/entities?email=p" .. math.random(people) .. "%40rel.example.com")
    elseif r <= 85 then
        local n
        if math.random(2) == 1 then n = math.random(people) else n = people + math.random(1000000) end
        return wrk.format("POST", "/v1/sources/web/records",
            {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key},
            person(n, math.random(5)))
    else
        local n = math.random(people)
        return wrk.format("POST", "/v1/match",
            {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key},
            string.format('{"first_name": "%s", "last_name": "%s", "emails": ["p%d@rel.example.com"]}', first(n), last(n), n))
    end
end

local errors = 0
function response(status, headers, body)
    if status >= 400 then errors = errors + 1 end
end

function done(summary, latency, requests)
    local s = summary
    local errs = s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout + s.errors.status
    io.write(string.format("LOAD requests=%d seconds=%.1f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
        s.requests, s.duration / 1e6, s.requests / (s.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, errs))
end
