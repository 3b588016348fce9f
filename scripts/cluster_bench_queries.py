import json, random
ORG="4d4a5880-3df8-43ec-9f61-7073b8e1a849"
WFS={"spring":"fa9358bd-f12b-44fa-8e7e-42d889bb0eb1","onboarding":"28b31731-06fe-4d73-8ee2-032c4250de61","checkout":"87d36ffc-d73e-4a20-ab17-d59bf9380001","support":"8e2f7155-33eb-44e6-9198-f3fa7f1a0d77"}
single = {
 "q1_30d_total_limit1000": {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-30"}, "target": "affected_goal_total", "limit": 1000, "basic": True},
 "q2_30d_affected_advanced": {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-30"}},
 "q3_7d_total_basic": {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-07"}, "target": "affected_goal_total", "basic": True},
 "q4_1d_affected": {"filters": [], "interval": {"start": "2026-03-10", "end": "2026-03-10"}},
}
for k,v in single.items(): json.dump(v, open(k+".json","w"))
random.seed(3)
with open("batch50.ndjson","w") as f:
    for i in range(50):
        wf=random.choice(list(WFS.values()))
        d=random.randint(1,28); n=random.choice([1,1,3,7,14])
        e=min(30,d+n-1)
        p={"filters": [], "interval": {"start": f"2026-03-{d:02d}", "end": f"2026-03-{e:02d}"}, "target": random.choice(["affected_goal","affected_goal_total"]), "basic": random.choice([True,False])}
        if random.random()<0.5: p["limit"]=random.choice([100,1000,10000])
        f.write(json.dumps({"name": f"q{i:02d}", "organization_id": ORG, "workflow_id": wf, "payload": p})+"\n")
