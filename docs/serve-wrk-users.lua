-- wrk script: GET /v1/users/{id}/recommendations?n=10 for random
-- ml-latest-small users (ids 1..610), counting non-2xx replies.
math.randomseed(1)
request = function()
  return wrk.format("GET", "/v1/users/" .. math.random(1, 610) .. "/recommendations?n=10")
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
